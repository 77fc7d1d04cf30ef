import { ParseError } from "../errors.js";

/** Text encodings the readers understand. `auto` sniffs UTF-8 (with or without BOM) versus GB18030. */
export type TextEncoding = "auto" | "utf-8" | "gb18030";

/** What {@link detectEncoding} found in a byte prefix. */
export interface DetectedEncoding {
  encoding: "utf-8" | "gb18030";
  /** True when the prefix starts with the UTF-8 byte order mark (EF BB BF), which the decoder drops. */
  bom: boolean;
}

/** How many leading bytes {@link decodeText} inspects before choosing an encoding. */
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

/**
 * Decode a byte stream into text chunks. With `encoding: "auto"` the first {@link SNIFF_BYTES} bytes choose
 * the encoding (see {@link detectEncoding}); a leading BOM is dropped. Decoding is strict: invalid bytes throw.
 *
 * @throws {ParseError} when the bytes are not valid in the chosen encoding (names the file and byte offset).
 */
export async function* decodeText(
  bytes: AsyncIterable<Uint8Array>,
  opts: { encoding?: TextEncoding; file?: string; onEncoding?: (e: DetectedEncoding) => void } = {},
): AsyncGenerator<string> {
  const want = opts.encoding ?? "auto";
  const it = bytes[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headLen = 0;
  let done = false;
  // Gather a prefix large enough to sniff (or the whole input when it is small).
  while (headLen < SNIFF_BYTES) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    headLen += r.value.length;
  }
  let prefix = head.length === 1 ? head[0]! : Buffer.concat(head);
  let detected: DetectedEncoding;
  if (want === "auto") detected = detectEncoding(prefix);
  else {
    const bom = want === "utf-8" && prefix.length >= 3 && prefix[0] === 0xef && prefix[1] === 0xbb && prefix[2] === 0xbf;
    detected = { encoding: want, bom };
  }
  opts.onEncoding?.(detected);
  if (detected.bom) prefix = prefix.subarray(3);
  const decoder = new TextDecoder(detected.encoding, { fatal: true, ignoreBOM: true });
  let offset = detected.bom ? 3 : 0;
  const decode = (chunk: Uint8Array, stream: boolean): string => {
    try {
      return decoder.decode(chunk, { stream });
    } catch (cause) {
      throw new ParseError(`invalid ${detected.encoding} bytes near byte ${offset}`, { file: opts.file, cause });
    } finally {
      offset += chunk.length;
    }
  };
  if (prefix.length) {
    const s = decode(prefix, true);
    if (s) yield s;
  }
  while (!done) {
    const r = await it.next();
    if (r.done) break;
    const s = decode(r.value, true);
    if (s) yield s;
  }
  const tail = decode(new Uint8Array(0), false);
  if (tail) yield tail;
}
