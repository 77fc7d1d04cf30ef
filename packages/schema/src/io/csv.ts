import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
// csv-parse and csv-stringify load on first use (~15 ms): JSONL-only commands never need them.
import { ParseError } from "../errors.js";
import { atomicWrite } from "./atomic-write.js";
import type { WriteOptions } from "./jsonl.js";
import { readText, type TextReadOptions } from "./lines.js";
import type { RowItem } from "./rows.js";

/** CSV reading options. */
export interface CsvReadOptions extends TextReadOptions {
  /** Field delimiter. @default "," */
  delimiter?: string;
  /** Column names; when given, the first line is data, not a header. @default read from the first line */
  columns?: string[];
}

function countBreaks(cells: string[]): number {
  let n = 0;
  for (const c of cells) for (let i = c.indexOf("\n"); i !== -1; i = c.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * Stream a CSV file (RFC 4180 quoting, multi-line fields; csv-parse) as objects keyed by the header. A row with
 * the wrong number of cells becomes a BadRow; broken quoting is fatal. Empty lines are skipped.
 *
 * @throws {ParseError} on unrecoverable CSV syntax errors (names the line).
 */
export async function* scanCsv(file: string, opts: CsvReadOptions = {}): AsyncGenerator<RowItem> {
  const { parse } = await import("csv-parse");
  // relax_quotes: real exports (Toyhom) have stray quotes inside unquoted fields, which Python's csv also accepts.
  const parser = parse({ delimiter: opts.delimiter ?? ",", relax_column_count: true, relax_quotes: true, skip_empty_lines: true, info: true });
  const feeding = pipeline(Readable.from(readText(file, opts)), parser).catch(() => undefined);
  let header = opts.columns;
  let index = 0;
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const cells = item.record;
      const line = item.info.lines - countBreaks(cells);
      if (!header) {
        header = cells.map((h) => h.trim());
        continue;
      }
      index++;
      if (cells.length !== header.length) {
        const reason = `expected ${header.length} cells (${header.join(",")}), got ${cells.length}`;
        yield { file, line, index, raw: cells, error: new ParseError(reason, { file, line }) };
        continue;
      }
      const value: Record<string, string> = {};
      for (let i = 0; i < header.length; i++) value[header[i]!] = cells[i]!;
      yield { file, line, index, value };
    }
  } catch (err) {
    if ((err as Error).name === "ParseError") throw err;
    const line = (err as { lines?: number }).lines;
    throw new ParseError(`invalid CSV: ${(err as Error).message}`, { file, line, cause: err });
  } finally {
    parser.destroy();
    await feeding;
  }
}

/** Render one cell: strings as is, null/undefined empty, anything else as JSON. */
export function csvCell(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Write flat records as CSV (TSV with `delimiter: "\t"`) with a header, atomically. Columns default to the keys of
 * the first record; nested values are written as JSON text.
 */
export async function writeCsv(
  file: string,
  records: AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>,
  opts: WriteOptions & { columns?: string[]; delimiter?: string } = {},
): Promise<{ count: number }> {
  const counter = { count: 0 };
  let columns = opts.columns;
  const delimiter = opts.delimiter ?? ",";
  async function* parts(): AsyncGenerator<string> {
    const { stringify } = await import("csv-stringify/sync");
    let batch: string[][] = [];
    const flush = (header: boolean) => {
      const s = stringify(batch, { delimiter, ...(header ? { header: true, columns: columns! } : {}) });
      batch = [];
      return s;
    };
    let headerDone = false;
    for await (const r of records) {
      columns ??= Object.keys(r);
      batch.push(columns.map((c) => csvCell(r[c])));
      counter.count++;
      if (batch.length >= 1000) {
        yield flush(!headerDone);
        headerDone = true;
        opts.onProgress?.(counter.count);
      }
    }
    if (!headerDone && columns) yield stringify(batch, { delimiter, header: true, columns });
    else if (batch.length) yield flush(false);
    opts.onProgress?.(counter.count);
  }
  await atomicWrite(file, parts(), opts.gzip !== undefined ? { gzip: opts.gzip } : {});
  return counter;
}
