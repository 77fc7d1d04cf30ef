import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createGunzip } from "node:zlib";

/** Progress while reading a file: bytes of the file consumed so far (compressed bytes for .gz). */
export interface ByteProgress {
  bytesRead: number;
  totalBytes: number;
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Stream a file's bytes, transparently gunzipping when it starts with the gzip magic number (whatever its
 * extension). `onBytes` sees the raw bytes consumed, for progress against the file size.
 */
export async function* readFileBytes(
  file: string,
  opts: { onBytes?: (p: ByteProgress) => void; highWaterMark?: number } = {},
): AsyncGenerator<Uint8Array> {
  const totalBytes = (await stat(file)).size;
  const raw = createReadStream(file, { highWaterMark: opts.highWaterMark ?? 256 * 1024 });
  let bytesRead = 0;
  const rawIt = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const it: AsyncIterator<Buffer> = {
    async next() {
      const r = await rawIt.next();
      if (!r.done) {
        bytesRead += r.value.length;
        opts.onBytes?.({ bytesRead, totalBytes });
      }
      return r;
    },
  };
  const first = await it.next();
  if (first.done) return;
  const gz = first.value.length >= 2 && first.value[0] === GZIP_MAGIC[0] && first.value[1] === GZIP_MAGIC[1];
  if (!gz) {
    yield first.value;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const gunzip = createGunzip();
  // Feed the raw chunks (the first one included) into gunzip, honouring its backpressure.
  const feed = (async () => {
    try {
      let chunk: Buffer | undefined = first.value;
      while (chunk) {
        if (!gunzip.write(chunk)) await new Promise<void>((res) => gunzip.once("drain", () => res()));
        const r = await it.next();
        chunk = r.done ? undefined : r.value;
      }
      gunzip.end();
    } catch (err) {
      gunzip.destroy(err as Error);
    }
  })();
  try {
    for await (const c of gunzip) yield c as Buffer;
  } finally {
    raw.destroy();
    await feed;
  }
}
