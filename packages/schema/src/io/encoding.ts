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
 * @throws {ParseError} when the bytes are not valid in the chosen encoding: "invalid UTF-8 at line 12, byte 71763"
 *   (file, 1-based line and 0-based byte offset in the decompressed stream, also as `file`, `line`, `byte`).
 */
export async function* decodeText(
  bytes: AsyncIterable<Uint8Array>,
  opts: { encoding?: TextEncoding; file?: string; onEncoding?: (e: DetectedEncoding) => void } = {},
): AsyncGenerator<string> {
  const want = opts.encoding ?? "auto";
  const it = bytes[Symbol.asyncIterator]();
  const cur: Cursor = {
    offset: 0,
    lfBefore: 0,
    next: async () => {
      const r = await it.next();
      return r.done ? undefined : r.value;
    },
  };
  let chunk = await readHead(cur);
  let detected: DetectedEncoding | undefined;
  if (chunk && chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf && want !== "gb18030") {
    detected = { encoding: "utf-8", bom: true };
    chunk = chunk.subarray(3);
    cur.offset = 3;
  } else if (want !== "auto") detected = { encoding: want, bom: false };
  if (!detected) {
    chunk = yield* passAscii(cur, chunk);
    if (!chunk) {
      opts.onEncoding?.({ encoding: "utf-8", bom: false });
      return;
    }
    chunk = await sniffWindow(cur, chunk);
    detected = detectEncoding(chunk);
  }
  opts.onEncoding?.(detected);
  yield* decodeStrict(cur, chunk, detected.encoding, opts.file);
}

/** Where decoding stands: bytes consumed (`offset`), LF bytes before it, and the source of further chunks. */
interface Cursor {
  offset: number;
  /** LF bytes before `offset`; LF (0x0A) is never part of a multi-byte character in either encoding. */
  lfBefore: number;
  next: () => Promise<Uint8Array | undefined>;
}

/** The leading bytes: enough to see a BOM. */
async function readHead(cur: Cursor): Promise<Uint8Array | undefined> {
  let chunk = await cur.next();
  while (chunk && chunk.length < 3) {
    const more = await cur.next();
    if (!more) break;
    chunk = Buffer.concat([chunk, more]);
  }
  return chunk;
}

/** ASCII is the same in both encodings: pass it through; returns the rest from the first non-ASCII byte on. */
async function* passAscii(cur: Cursor, first: Uint8Array | undefined): AsyncGenerator<string, Uint8Array | undefined> {
  let chunk = first;
  while (chunk) {
    const k = firstNonAscii(chunk);
    if (k === -1) {
      if (chunk.length) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString("latin1");
      cur.lfBefore += countLf(chunk);
      cur.offset += chunk.length;
      chunk = await cur.next();
      continue;
    }
    if (k > 0) {
      yield Buffer.from(chunk.buffer, chunk.byteOffset, k).toString("latin1");
      cur.lfBefore += countLf(chunk.subarray(0, k));
      cur.offset += k;
      chunk = chunk.subarray(k);
    }
    break;
  }
  return chunk;
}

/** A sniffing window of at least {@link SNIFF_BYTES} (or the rest of the input) that starts at `chunk`. */
async function sniffWindow(cur: Cursor, chunk: Uint8Array): Promise<Uint8Array> {
  const window: Uint8Array[] = [chunk];
  let len = chunk.length;
  while (len < SNIFF_BYTES) {
    const more = await cur.next();
    if (!more) break;
    window.push(more);
    len += more.length;
  }
  return window.length === 1 ? window[0]! : Buffer.concat(window);
}

/** Strict decoding from `chunk` on; an invalid byte is a ParseError naming its line and byte. */
async function* decodeStrict(cur: Cursor, first: Uint8Array | undefined, enc: "utf-8" | "gb18030", file: string | undefined): AsyncGenerator<string> {
  const label = enc === "utf-8" ? "UTF-8" : "GB18030";
  const decoder = new TextDecoder(enc, { fatal: true, ignoreBOM: true });
  // The bytes since the last LF (a character boundary) are kept by reference, so an error can be located
  // exactly; a line longer than LOCATE_BYTES is given up on (the error then says "near").
  let since: Uint8Array[] | undefined = [];
  let sinceBytes = 0;
  let boundary = { offset: cur.offset, lfBefore: cur.lfBefore };
  const fail = (c: Uint8Array, cause: unknown): never => {
    const at = since ? locateInvalid(enc, Buffer.concat([...since, c]), boundary.offset, boundary.lfBefore) : undefined;
    const where = at ? `at line ${at.line}, byte ${at.byte}` : `near byte ${cur.offset} (line ${cur.lfBefore + 1} or later)`;
    throw new ParseError(`invalid ${label} ${where}`, { file, line: at?.line ?? cur.lfBefore + 1, byte: at?.byte ?? cur.offset, cause });
  };
  for (let chunk = first; chunk; chunk = await cur.next()) {
    let s: string;
    try {
      s = decoder.decode(chunk, { stream: true });
    } catch (cause) {
      return fail(chunk, cause);
    }
    if (s) yield s;
    const lf = chunk.lastIndexOf(10);
    const n = countLf(chunk);
    if (lf !== -1) {
      since = [chunk.subarray(lf + 1)];
      sinceBytes = chunk.length - lf - 1;
      boundary = { offset: cur.offset + lf + 1, lfBefore: cur.lfBefore + n };
    } else if (since && sinceBytes + chunk.length <= LOCATE_BYTES) {
      since.push(chunk);
      sinceBytes += chunk.length;
    } else since = undefined;
    cur.lfBefore += n;
    cur.offset += chunk.length;
  }
  let tail: string;
  try {
    tail = decoder.decode(new Uint8Array(0), { stream: false });
  } catch (cause) {
    throw new ParseError(`invalid ${label} at line ${cur.lfBefore + 1}, byte ${cur.offset}: the file ends inside a character`, {
      file,
      line: cur.lfBefore + 1,
      byte: cur.offset,
      cause,
    });
  }
  if (tail) yield tail;
}

function countLf(b: Uint8Array): number {
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/** The longest line (bytes) that an encoding error is located in exactly. */
const LOCATE_BYTES = 16 << 20;

/**
 * Where decoding of `bytes` (which start on a character boundary at `offset`, after `lfBefore` line breaks)
 * first fails. Binary search over prefixes: a strict streaming decode fails on a prefix exactly when the prefix
 * holds the bad byte. Undefined when the bytes decode (the error lies elsewhere).
 */
function locateInvalid(enc: "utf-8" | "gb18030", bytes: Uint8Array, offset: number, lfBefore: number): { line: number; byte: number } | undefined {
  const fails = (n: number) => {
    try {
      new TextDecoder(enc, { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, n), { stream: true });
      return false;
    } catch {
      return true;
    }
  };
  let lo = 1;
  let hi = bytes.length;
  if (!fails(hi)) return undefined;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  // lo - 1 is the byte that made the prefix invalid; report the start of the sequence it ends (a lead byte
  // followed by a bad continuation is reported at the lead byte): the last prefix that decodes completely.
  let bad = lo - 1;
  for (let k = bad; k >= Math.max(0, bad - 3); k--) {
    try {
      new TextDecoder(enc, { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, k));
      bad = k;
      break;
    } catch {
      // k cuts a character: look further back
    }
  }
  return { byte: offset + bad, line: lfBefore + countLf(bytes.subarray(0, bad)) + 1 };
}
