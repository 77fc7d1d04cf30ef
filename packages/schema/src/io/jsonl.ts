import { ParseError } from "../errors.js";
import { atomicWrite, batchStrings } from "./atomic-write.js";
import { readText, type TextReadOptions } from "./lines.js";
import type { RowItem } from "./rows.js";

/**
 * Parse JSONL lines; blank lines are skipped (they keep their line numbers). Broken lines become BadRows.
 * Lines are split inline over the decoded chunks (no per-line generator in between: this is the hot path).
 */
export async function* scanJsonl(file: string, opts: TextReadOptions = {}): AsyncGenerator<RowItem> {
  let index = 0;
  let line = 0;
  let rest = "";
  const row = (text: string): RowItem | undefined => {
    line++;
    if (isBlank(text)) return undefined;
    index++;
    try {
      return { file, line, index, value: JSON.parse(text) as unknown };
    } catch (cause) {
      const reason = `invalid JSON: ${(cause as Error).message}`;
      return { file, line, index, raw: text, error: new ParseError(reason, { file, line, cause }) };
    }
  };
  for await (const chunk of readText(file, opts)) {
    const text = rest ? rest + chunk : chunk;
    let start = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const r = row(text.slice(start, end));
      start = nl + 1;
      if (r) yield r;
    }
    rest = start === 0 ? text : text.slice(start);
  }
  if (rest) {
    const r = row(rest.endsWith("\r") ? rest.slice(0, -1) : rest);
    if (r) yield r;
  }
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 0xfeff) return false;
  }
  return true;
}

/** Options for the writers. */
export interface WriteOptions {
  /** gzip the output. @default true when the file name ends in `.gz` */
  gzip?: boolean;
  /** Called with the number of records written so far (every 1,000 records and at the end). */
  onProgress?: (written: number) => void;
}

/** Serialise records one per line, counting them. */
export async function* jsonlLines(
  records: AsyncIterable<unknown> | Iterable<unknown>,
  counter: { count: number },
  onProgress?: (n: number) => void,
): AsyncGenerator<string> {
  for await (const r of records) {
    counter.count++;
    if (onProgress && counter.count % 1000 === 0) onProgress(counter.count);
    yield JSON.stringify(r) + "\n";
  }
  onProgress?.(counter.count);
}

/**
 * Write records as JSONL (gzip for `.gz`), atomically (temp file + rename). Returns the number written.
 *
 * @throws whatever the record source throws; the target file is then left untouched.
 */
export async function writeJsonl(
  file: string,
  records: AsyncIterable<unknown> | Iterable<unknown>,
  opts: WriteOptions = {},
): Promise<{ count: number }> {
  const counter = { count: 0 };
  await atomicWrite(file, batchStrings(jsonlLines(records, counter, opts.onProgress)), opts.gzip !== undefined ? { gzip: opts.gzip } : {});
  return counter;
}
