import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";

/** Content hash of a file, or of a folder (names and contents, sorted; markers of our own skipped). */
export async function hashPath(p: string): Promise<string> {
  const h = createHash("sha256");
  await feed(h, p, "");
  return h.digest("hex");
}

async function feed(h: ReturnType<typeof createHash>, p: string, rel: string): Promise<void> {
  const st = await stat(p);
  if (st.isDirectory()) {
    const names = (await readdir(p)).filter((n) => n !== STAGE_MARKER).sort();
    h.update(`dir ${rel}\n`);
    for (const n of names) await feed(h, path.join(p, n), rel ? `${rel}/${n}` : n);
    return;
  }
  h.update(`file ${rel} ${st.size}\n`);
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
}

/** File written last into a finished stage's folder; its `key` decides whether the stage can be reused. */
export const STAGE_MARKER = ".sfmed-stage.json";
