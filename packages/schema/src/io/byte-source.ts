import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { ParseError, SchemaError } from "../errors.js";

/**
 * Stat a file that is about to be read, so a folder or a missing file is an error that names it.
 * @throws {SchemaError} code ENOENT, EISDIR or ENOTREG (a FIFO, socket or device)
 */
export async function statInputFile(file: string): Promise<{ size: number }> {
  let st;
  try {
    st = await stat(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? "EIO";
    throw new SchemaError(code === "ENOENT" ? "no such file" : (cause as Error).message, { file, code, cause });
  }
  if (st.isDirectory()) throw new SchemaError("is a folder; expected a file", { file, code: "EISDIR" });
  // A FIFO or device cannot be re-read from byte 0 (format and gzip sniffing do) and may block open() forever.
  if (!st.isFile()) throw new SchemaError("is not a regular file (a pipe, socket or device); pipe it to stdin as - instead", { file, code: "ENOTREG" });
  return st;
}

/** Progress while reading a file: bytes of the file consumed so far (compressed bytes for .gz). */
export interface ByteProgress {
  bytesRead: number;
  totalBytes: number;
}

/** True when the file starts with the gzip magic number 1f 8b. */
async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Stream a file's bytes, transparently gunzipping when it starts with the gzip magic number (whatever its
 * extension). `onBytes` sees the raw bytes consumed, for progress against the file size.
 *
 * @throws {ParseError} when gzip data is corrupt or truncated (names the file)
 */
export async function* readFileBytes(
  file: string,
  opts: { onBytes?: (p: ByteProgress) => void; highWaterMark?: number } = {},
): AsyncGenerator<Uint8Array> {
  const totalBytes = (await statInputFile(file)).size;
  const gz = await isGzip(file);
  const raw = createReadStream(file, { highWaterMark: opts.highWaterMark ?? 256 * 1024 });
  let bytesRead = 0;
  const count = (c: Buffer) => {
    bytesRead += c.length;
    opts.onBytes?.({ bytesRead, totalBytes });
  };
  if (!gz) {
    try {
      for await (const c of raw as AsyncIterable<Buffer>) {
        count(c);
        yield c;
      }
    } finally {
      raw.destroy();
    }
    return;
  }
  raw.on("data", (c: string | Buffer) => count(c as Buffer));
  const gunzip = createGunzip();
  // pipeline() destroys both streams on error, so the loop below ends with the error instead of hanging.
  pipeline(raw, gunzip, () => undefined);
  try {
    for await (const c of gunzip as AsyncIterable<Buffer>) yield c;
  } catch (cause) {
    throw new ParseError(`cannot decompress gzip data: ${(cause as Error).message}`, { file, cause });
  } finally {
    raw.destroy();
    gunzip.destroy();
  }
}
