import { readFileBytes, type ByteProgress } from "./byte-source.js";
import { decodeText, type DetectedEncoding, type TextEncoding } from "./encoding.js";

/** One physical line of text with its 1-based line number (without the line break). */
export interface TextLine {
  line: number;
  text: string;
}

/** Split text chunks into lines (LF or CRLF), numbering from 1. A final line without a break is kept. */
export async function* splitLines(chunks: AsyncIterable<string>): AsyncGenerator<TextLine> {
  let rest = "";
  let line = 0;
  for await (const chunk of chunks) {
    let text = rest ? rest + chunk : chunk;
    let start = 0;
    let nl = text.indexOf("\n", start);
    while (nl !== -1) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield { line: ++line, text: text.slice(start, end) };
      start = nl + 1;
      nl = text.indexOf("\n", start);
    }
    rest = start === 0 ? text : text.slice(start);
    text = "";
  }
  if (rest) yield { line: ++line, text: rest.endsWith("\r") ? rest.slice(0, -1) : rest };
}

/** Options shared by every text reader. */
export interface TextReadOptions {
  /** @default "auto" (UTF-8, UTF-8 with BOM, or GB18030) */
  encoding?: TextEncoding;
  /** Called as raw bytes are consumed (for a progress bar against the file size). */
  onBytes?: (p: ByteProgress) => void;
  /** Told which encoding was chosen. */
  onEncoding?: (e: DetectedEncoding) => void;
}

/** Decoded text chunks of a file (.gz transparently inflated). */
export function readText(file: string, opts: TextReadOptions = {}): AsyncGenerator<string> {
  return decodeText(readFileBytes(file, opts.onBytes ? { onBytes: opts.onBytes } : {}), {
    encoding: opts.encoding ?? "auto",
    file,
    ...(opts.onEncoding ? { onEncoding: opts.onEncoding } : {}),
  });
}

/**
 * Stream a text file's lines with 1-based line numbers, in bounded memory.
 *
 * @throws {ParseError} on bytes that are invalid in the detected encoding.
 */
export function readLines(file: string, opts: TextReadOptions = {}): AsyncGenerator<TextLine> {
  return splitLines(readText(file, opts));
}
