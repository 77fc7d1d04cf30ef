import { ParseError } from "../errors.js";

/** Text encodings the readers understand. `auto` sniffs UTF-8 (with or without BOM) versus GB18030. */
export type TextEncoding = "auto" | "utf-8" | "gb18030";

/** What {@link detectEncoding} found in a byte prefix. */
export interface DetectedEncoding {
  encoding: "utf-8" | "gb18030";
  /** True when the prefix starts with the UTF-8 byte order mark (EF BB BF), which the decoder drops. */
  bom: boolean;
}

/** How many bytes, from the first non-ASCII byte on, {@link decodeText} inspects before choosing an encoding. */
export const SNIFF_BYTES = 64 * 1024;

/**
 * Guess the encoding of a byte prefix: a UTF-8 BOM wins; otherwise the prefix is decoded as strict UTF-8 in
 * streaming mode (so a multi-byte character cut at the end of the prefix is not an error) and anything that
 * fails is taken as GB18030, the encoding Chinese corpora ship in when they are not UTF-8.
 */
export function detectEncoding(prefix: Uint8Array): DetectedEncoding {
  if (prefix.length >= 3 && prefix[0] === 0xef && prefix[1] === 0xbb && prefix[2] === 0xbf) return { encoding: "utf-8", bom: true };
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(prefix, { stream: true });
    return { encoding: "utf-8", bom: false };
  } catch {
    return { encoding: "gb18030", bom: false };
  }
}

function firstNonAscii(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return i;
  return -1;
}

/**
 * Decode a byte stream into text chunks. With `encoding: "auto"` a UTF-8 BOM means UTF-8 (the BOM is dropped);
 * otherwise ASCII passes straight through and the {@link SNIFF_BYTES} bytes starting at the first non-ASCII byte
 * choose between UTF-8 and GB18030 (see {@link detectEncoding}), so a file that is ASCII for a long stretch
 * before its first Chinese character is still classified on real evidence. Decoding is strict: invalid bytes
 * throw.
 *
 * @throws {ParseError} when the bytes are not valid in the chosen encoding (names the file and byte offset).
 */
export async function* decodeText(
  bytes: AsyncIterable<Uint8Array>,
  opts: { encoding?: TextEncoding; file?: string; onEncoding?: (e: DetectedEncoding) => void } = {},
): AsyncGenerator<string> {
  const want = opts.encoding ?? "auto";
  const it = bytes[Symbol.asyncIterator]();
  let offset = 0;
  const next = async (): Promise<Uint8Array | undefined> => {
    const r = await it.next();
    return r.done ? undefined : r.value;
  };

  // Leading bytes: enough to see a BOM.
  let chunk = await next();
  while (chunk && chunk.length < 3) {
    const more = await next();
    if (!more) break;
    chunk = Buffer.concat([chunk, more]);
  }
  let detected: DetectedEncoding | undefined;
  if (chunk && chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf && want !== "gb18030") {
    detected = { encoding: "utf-8", bom: true };
    chunk = chunk.subarray(3);
    offset = 3;
  } else if (want !== "auto") detected = { encoding: want, bom: false };

  if (!detected) {
    // ASCII is the same in both encodings: pass it through until the first non-ASCII byte.
    while (chunk) {
      const k = firstNonAscii(chunk);
      if (k === -1) {
        if (chunk.length) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString("latin1");
        offset += chunk.length;
        chunk = await next();
        continue;
      }
      if (k > 0) {
        yield Buffer.from(chunk.buffer, chunk.byteOffset, k).toString("latin1");
        offset += k;
        chunk = chunk.subarray(k);
      }
      break;
    }
    if (!chunk) {
      opts.onEncoding?.({ encoding: "utf-8", bom: false });
      return;
    }
    // Sniff a window that starts at the first non-ASCII byte.
    const window: Uint8Array[] = [chunk];
    let len = chunk.length;
    while (len < SNIFF_BYTES) {
      const more = await next();
      if (!more) break;
      window.push(more);
      len += more.length;
    }
    chunk = window.length === 1 ? window[0]! : Buffer.concat(window);
    detected = detectEncoding(chunk);
  }
  opts.onEncoding?.(detected);
  const enc = detected.encoding;
  const decoder = new TextDecoder(enc, { fatal: true, ignoreBOM: true });
  const decode = (c: Uint8Array, stream: boolean): string => {
    try {
      return decoder.decode(c, { stream });
    } catch (cause) {
      throw new ParseError(`invalid ${enc} bytes near byte ${offset}`, { file: opts.file, cause });
    } finally {
      offset += c.length;
    }
  };
  while (chunk) {
    const s = decode(chunk, true);
    if (s) yield s;
    chunk = await next();
  }
  const tail = decode(new Uint8Array(0), false);
  if (tail) yield tail;
}
