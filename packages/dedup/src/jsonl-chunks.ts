import { readFileBytes, readText } from "@sfmed/schema/io";

/** Bytes per JSONL chunk handed to a signature worker. */
export const CHUNK_BYTES = 1 << 20;

/**
 * Whether a file's bytes are UTF-8 (so its lines can be handed around as bytes), decided like the generic text
 * reader does: a BOM, else the bytes from the first non-ASCII byte on. A file that is ASCII for its first
 * `asciiLimit` bytes is taken as UTF-8 without reading further.
 */
export async function isUtf8Text(file: string, asciiLimit = 1 << 22): Promise<boolean> {
  let encoding: string | undefined;
  let seen = 0;
  const it = readText(file, { onEncoding: (e) => (encoding = e.encoding) });
  try {
    for await (const chunk of it) {
      if (encoding !== undefined) break;
      seen += chunk.length;
      if (seen >= asciiLimit) return true;
    }
  } finally {
    await it.return(undefined);
  }
  return (encoding ?? "utf-8") === "utf-8";
}

/**
 * A UTF-8 file (.gz inflated) as chunks of whole lines of about `chunkBytes`, each in its own buffer (so it can be
 * transferred to a worker). A leading BOM is dropped; the last chunk may end without a line break.
 */
export async function* lineChunks(file: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(chunkBytes);
  let used = 0;
  let first = true;
  for await (let piece of readFileBytes(file)) {
    if (first && piece.length) {
      first = false;
      if (piece.length >= 3 && piece[0] === 0xef && piece[1] === 0xbb && piece[2] === 0xbf) piece = piece.subarray(3);
    }
    while (piece.length) {
      if (used + piece.length > buf.length) {
        // cut at the last line break of what is buffered plus the piece
        const room = buf.length - used;
        buf.set(piece.subarray(0, room), used);
        used += room;
        piece = piece.subarray(room);
        const nl = buf.lastIndexOf(10, used - 1);
        if (nl < 0) {
          // a line longer than the buffer: grow
          const big = new Uint8Array(buf.length * 2);
          big.set(buf.subarray(0, used));
          buf = big;
          continue;
        }
        const next = new Uint8Array(Math.max(chunkBytes, used - nl - 1 + 1));
        next.set(buf.subarray(nl + 1, used));
        const out = buf.buffer.byteLength === nl + 1 ? buf : buf.slice(0, nl + 1);
        yield out;
        used = used - nl - 1;
        buf = next;
      } else {
        buf.set(piece, used);
        used += piece.length;
        piece = piece.subarray(piece.length);
      }
    }
  }
  if (used) yield buf.slice(0, used);
}
