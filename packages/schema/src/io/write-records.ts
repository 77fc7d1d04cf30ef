import { writeCsv } from "./csv.js";
import { formatFromName } from "./format.js";
import { writeJsonArray } from "./json-array.js";
import { writeJsonl, type WriteOptions } from "./jsonl.js";
import { ValidationError } from "../errors.js";

/**
 * Write records atomically in the format the file name says: `.jsonl`/`.ndjson` (optionally `.gz`), `.json`
 * (array), `.csv`/`.tsv` (nested values as JSON text). Parquet: `writeParquet` from `@sfmed/schema/parquet`.
 *
 * @throws {ValidationError} for an extension with no writer
 */
export async function writeRecords(
  file: string,
  records: AsyncIterable<unknown> | Iterable<unknown>,
  opts: WriteOptions = {},
): Promise<{ count: number }> {
  const format = formatFromName(file);
  switch (format) {
    case "jsonl":
      return writeJsonl(file, records, opts);
    case "json":
      return writeJsonArray(file, records, opts);
    case "csv":
      return writeCsv(file, records as AsyncIterable<Record<string, unknown>>, opts);
    case "tsv":
      return writeCsv(file, records as AsyncIterable<Record<string, unknown>>, { ...opts, delimiter: "\t" });
    default:
      throw new ValidationError(`no writer for "${file}" (use .jsonl, .jsonl.gz, .json, .csv or .tsv${format === "parquet" ? "; Parquet: @sfmed/schema/parquet" : ""})`, { file });
  }
}
