import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/** Write a whole file atomically: a temporary file beside it, then a rename (readers never see half a file). */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempName(file);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** An output file written through a temporary file; `commit` renames it into place, `abort` removes it. */
export interface AtomicWriter {
  write(chunk: string): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Open an atomic streaming writer for `file` (created with its folder as needed). */
export async function openAtomicWriter(file: string): Promise<AtomicWriter> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempName(file);
  const out = createWriteStream(tmp);
  const opened = new Promise<void>((resolve, reject) => {
    out.once("open", () => resolve());
    out.once("error", reject);
  });
  await opened;
  const closed = () => new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return {
    async write(chunk) {
      // `once` rejects if the stream errors while we wait for it to drain.
      if (!out.write(chunk)) await once(out, "drain");
    },
    async commit() {
      await closed();
      await rename(tmp, file);
    },
    async abort() {
      await closed().catch(() => undefined);
      await rm(tmp, { force: true });
    },
  };
}
