import type { SchemaError } from "../errors.js";

/** One record read from a file, before validation: where it starts and its parsed value. */
export interface SourceRow {
  file: string;
  /** 1-based line where the record starts. */
  line: number;
  /** 1-based record index within the file (CSV data row, JSONL record, JSON array element). */
  index: number;
  value: unknown;
}

/** A record that could not be parsed; `raw` is its text (JSONL line, JSON element) or cells (CSV). */
export interface BadRow {
  file: string;
  line: number;
  index: number;
  error: SchemaError;
  raw: unknown;
}

export type RowItem = SourceRow | BadRow;

export function isBadRow(r: RowItem): r is BadRow {
  return "error" in r;
}
