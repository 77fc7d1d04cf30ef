import { ParseError } from "../errors.js";
import { atomicWrite, batchStrings } from "./atomic-write.js";
import type { WriteOptions } from "./jsonl.js";
import { readText, type TextReadOptions } from "./lines.js";
import type { RowItem } from "./rows.js";

/** Element text with the line it starts on, or a structural error. */
export interface ArrayElement {
  line: number;
  text: string;
}

const enum C {
  NL = 10,
  QUOTE = 34,
  BACKSLASH = 92,
  COMMA = 44,
  LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93,
  SPACE = 32,
  TAB = 9,
  CR = 13,
  BOM = 0xfeff,
}

/**
 * Split a top-level JSON array into the text of its elements without parsing the whole document, so memory is
 * bounded by the largest element. Tracks nesting depth and string state character by character.
 *
 * @throws {ParseError} when the document is not an array or its structure is broken (names the line).
 */
export async function* splitJsonArray(chunks: AsyncIterable<string>, file?: string): AsyncGenerator<ArrayElement> {
  let line = 1;
  let depth = 0; // 0: before/after the array; 1: between elements; >1: inside an element
  let started = false;
  let ended = false;
  let inString = false;
  let escape = false;
  let elem: string[] | null = null; // pieces of the current element
  let elemStart = -1; // index in the current chunk where the element (or its continuation) starts
  let elemLine = 0;
  let expectValue = true;
  let count = 0; // elements seen
  const fail = (msg: string): never => {
    throw new ParseError(msg, { file, line });
  };
  for await (const chunk of chunks) {
    if (elem) elemStart = 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (c === C.NL) line++;
      if (inString) {
        if (escape) escape = false;
        else if (c === C.BACKSLASH) escape = true;
        else if (c === C.QUOTE) inString = false;
        continue;
      }
      if (c === C.SPACE || c === C.NL || c === C.CR || c === C.TAB || (c === C.BOM && !started)) continue;
      if (ended) fail("unexpected content after the end of the JSON array");
      if (!started) {
        if (c !== C.LBRACKET) fail("expected a JSON array ('[')");
        started = true;
        depth = 1;
        continue;
      }
      if (depth === 1) {
        if (c === C.COMMA || c === C.RBRACKET) {
          if (elem) {
            elem.push(chunk.slice(elemStart, i));
            yield { line: elemLine, text: elem.join("") };
            elem = null;
            count++;
          } else if (c === C.COMMA) fail("unexpected ',' (empty array element)");
          else if (count > 0) fail("trailing ',' before ']'");
          if (c === C.RBRACKET) {
            depth = 0;
            ended = true;
          } else expectValue = true;
          continue;
        }
        if (!elem) {
          if (!expectValue) fail("missing ',' between array elements");
          elem = [];
          elemStart = i;
          elemLine = line;
          expectValue = false;
        } else if (depth === 1 && isValueStart(c) && isValueEnd(chunk, i)) {
          // e.g. `1 2` inside the array: two values with no comma between them
          fail("missing ',' between array elements");
        }
      }
      if (c === C.QUOTE) inString = true;
      else if (c === C.LBRACE || c === C.LBRACKET) depth++;
      else if (c === C.RBRACE || c === C.RBRACKET) {
        depth--;
        if (depth < 1) fail("unbalanced bracket");
      }
    }
    if (elem) elem.push(chunk.slice(elemStart));
  }
  if (!started) fail("empty input: expected a JSON array");
  if (!ended) fail("unexpected end of input inside the JSON array");
}

function isValueStart(c: number): boolean {
  return c === C.QUOTE || c === C.LBRACE || c === C.LBRACKET;
}

// Whitespace immediately before a value start at depth 1 means a previous primitive ended without a comma.
function isValueEnd(chunk: string, i: number): boolean {
  const p = i > 0 ? chunk.charCodeAt(i - 1) : -1;
  return p === C.SPACE || p === C.NL || p === C.TAB || p === C.CR;
}

/** Read a JSON array file element by element; an element that does not parse becomes a BadRow. */
export async function* scanJsonArray(file: string, opts: TextReadOptions = {}): AsyncGenerator<RowItem> {
  let index = 0;
  for await (const { line, text } of splitJsonArray(readText(file, opts), file)) {
    index++;
    try {
      yield { file, line, index, value: JSON.parse(text) as unknown };
    } catch (cause) {
      yield { file, line, index, raw: text, error: new ParseError(`invalid JSON: ${(cause as Error).message}`, { file, line, cause }) };
    }
  }
}

/** Write records as a JSON array (one element per line), atomically. Returns the number written. */
export async function writeJsonArray(
  file: string,
  records: AsyncIterable<unknown> | Iterable<unknown>,
  opts: WriteOptions = {},
): Promise<{ count: number }> {
  const counter = { count: 0 };
  async function* parts(): AsyncGenerator<string> {
    yield "[";
    for await (const r of records) {
      yield (counter.count ? ",\n" : "\n") + JSON.stringify(r);
      counter.count++;
      if (opts.onProgress && counter.count % 1000 === 0) opts.onProgress(counter.count);
    }
    yield counter.count ? "\n]\n" : "]\n";
    opts.onProgress?.(counter.count);
  }
  await atomicWrite(file, batchStrings(parts()), opts.gzip !== undefined ? { gzip: opts.gzip } : {});
  return counter;
}
