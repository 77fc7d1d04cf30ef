import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { registerTemp, tempPathFor } from "./temp-files.js";

export { tempPathFor } from "./temp-files.js";

/**
 * Write chunks to `file` atomically: they go to a temp file beside it, which is renamed over `file` only once
 * everything was written. On any error the temp file is removed and `file` is left as it was; while in flight the
 * temp is registered, so `removeTempsNow()` (called from a signal handler) removes it too.
 *
 * @param opts.gzip compress the output. @default true when `file` ends in `.gz`
 * @throws whatever the chunk source or the file system throws
 */
export async function atomicWrite(
  file: string,
  chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  opts: { gzip?: boolean } = {},
): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempPathFor(file);
  const gzip = opts.gzip ?? file.endsWith(".gz");
  const done = registerTemp(tmp);
  try {
    const source = Readable.from(chunks, { objectMode: false });
    if (gzip) await pipeline(source, createGzip(), createWriteStream(tmp));
    else await pipeline(source, createWriteStream(tmp));
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    done();
  }
}

/** Group many small strings into ~64 KiB chunks (far fewer stream writes). */
export async function* batchStrings(parts: AsyncIterable<string> | Iterable<string>, size = 64 * 1024): AsyncGenerator<string> {
  let buf: string[] = [];
  let len = 0;
  for await (const p of parts) {
    buf.push(p);
    len += p.length;
    if (len >= size) {
      yield buf.join("");
      buf = [];
      len = 0;
    }
  }
  if (buf.length) yield buf.join("");
}
