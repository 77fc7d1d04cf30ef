// Records of input files in any format @sfmed/schema reads, each with the text to write back unchanged.
import { detectFormat, isBadRow, readLines, scanRows } from "@sfmed/schema/io";
import { DedupError } from "../errors.js";
import { isUtf8Text } from "../jsonl-chunks.js";

/** One input record with the text to write back unchanged (the JSONL line, or the record as JSON). */
export interface InputRow {
  file: string;
  /** 1-based line (JSONL, CSV) or record number (JSON, Parquet) in `file`. */
  line: number;
  record: Record<string, unknown>;
  raw: string;
}

/** A JSONL line as a record. @throws DedupError (`PARSE_ERROR`) for invalid JSON or a line that is not an object. */
export function parseLine(text: string, file: string, line: number): Record<string, unknown> {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (cause) {
    throw new DedupError(`invalid JSON: ${(cause as Error).message}`, { code: "PARSE_ERROR", file, line, cause });
  }
  if (!record || typeof record !== "object" || Array.isArray(record)) throw new DedupError("a record must be a JSON object", { code: "PARSE_ERROR", file, line });
  return record as Record<string, unknown>;
}

/** True when every input is JSONL in UTF-8 (the precondition of the worker-read path). */
export async function allUtf8Jsonl(files: readonly string[]): Promise<boolean> {
  for (const f of files) if ((await detectFormat(f)) !== "jsonl" || !(await isUtf8Text(f))) return false;
  return true;
}

async function* jsonlRows(file: string, lazy: boolean): AsyncGenerator<InputRow> {
  for await (const { line, text } of readLines(file)) {
    if (text.trim() === "") continue;
    if (!lazy) {
      yield { file, line, record: parseLine(text, file, line), raw: text };
      continue;
    }
    let parsed: Record<string, unknown> | undefined;
    yield {
      file,
      line,
      raw: text,
      get record() {
        return (parsed ??= parseLine(text, file, line));
      },
    };
  }
}

async function* parquetRows(file: string): AsyncGenerator<InputRow> {
  // Hub datasets are mostly Parquet shards: rows are written out as JSON lines.
  const { readParquet } = await import("@sfmed/schema/parquet");
  for await (const { line, record } of readParquet(file)) {
    if (!record || typeof record !== "object" || Array.isArray(record)) throw new DedupError("a record must be a JSON object", { code: "PARSE_ERROR", file, line });
    yield { file, line, record: record as Record<string, unknown>, raw: JSON.stringify(record) };
  }
}

/**
 * Records of every input in order (JSONL, JSON, CSV, TSV, Parquet; gzip and GB18030 text through the schema
 * readers). JSONL lines pass through untouched; other formats are written as JSON. With `lazy`, JSONL lines are
 * parsed only when `record` is read (the write pass needs the raw text, and a record only for the clusters file).
 */
export async function* readInputs(files: readonly string[], opts: { lazy?: boolean } = {}): AsyncGenerator<InputRow> {
  for (const file of files) {
    const format = await detectFormat(file);
    if (format === "jsonl") yield* jsonlRows(file, opts.lazy ?? false);
    else if (format === "parquet") yield* parquetRows(file);
    else {
      for await (const row of scanRows(file, { format })) {
        if (isBadRow(row)) throw row.error;
        yield { file, line: row.line, record: row.value as Record<string, unknown>, raw: JSON.stringify(row.value) };
      }
    }
  }
}
