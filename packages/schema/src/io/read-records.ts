import { ValidationError } from "../errors.js";
import { isRecordKind } from "../record-kinds.js";
import type { RecordKind, RecordOf } from "../records.js";
import type { validateRecord as ValidateRecord } from "../validate.js";
import type { ByteProgress } from "./byte-source.js";
import { scanCsv } from "./csv.js";
import { detectFormat, type FileFormat } from "./format.js";
import { scanJsonArray } from "./json-array.js";
import { scanJsonl } from "./jsonl.js";
import type { TextEncoding } from "./encoding.js";
import { InvalidPolicy, type OnInvalid, type RejectSink } from "./rejects.js";
import { isBadRow, type RowItem } from "./rows.js";

/** Progress of a read: records seen (valid + rejected) and bytes consumed of the file. */
export interface ReadProgress {
  records: number;
  rejected: number;
  bytesRead: number;
  totalBytes: number;
}

/** Options of {@link readRows} and {@link readRecords}. */
export interface ReadOptions {
  /** Container format. @default from the extension; `.json` is sniffed (array or JSONL) */
  format?: Exclude<FileFormat, "parquet">;
  /** @default "auto" (UTF-8, UTF-8 with BOM, or GB18030) */
  encoding?: TextEncoding;
  /** What to do with a record that does not parse or validate. @default "error" */
  onInvalid?: OnInvalid;
  /**
   * With `onInvalid: "skip"`: a path for a rejects JSONL file (written atomically when the read completes), or a
   * sink of your own. Each entry has the file, line, field, reason and the raw input.
   */
  rejects?: string | RejectSink;
  /** Called about every 1,000 records and at the end. */
  onProgress?: (p: ReadProgress) => void;
}

/** A record with where it came from. */
export interface LocatedRecord<T> {
  record: T;
  file: string;
  /** 1-based line where the record starts (for CSV, the physical line of the row). */
  line: number;
}

/** Low-level: parsed rows and bad rows of one file, no policy applied. */
export async function* scanRows(
  file: string,
  opts: Pick<ReadOptions, "format" | "encoding"> & { onBytes?: (p: ByteProgress) => void } = {},
): AsyncGenerator<RowItem> {
  const format = opts.format ?? (await detectFormat(file));
  const text = { ...(opts.encoding ? { encoding: opts.encoding } : {}), ...(opts.onBytes ? { onBytes: opts.onBytes } : {}) };
  if (format === "jsonl") yield* scanJsonl(file, text);
  else if (format === "json") yield* scanJsonArray(file, text);
  else if (format === "csv" || format === "tsv") yield* scanCsv(file, { ...text, delimiter: format === "tsv" ? "\t" : "," });
  else if (format === "parquet") {
    // Loaded on first use, so the text formats never pay for the Parquet reader.
    const { readParquet } = await import("../parquet.js");
    let index = 0;
    for await (const r of readParquet(file)) yield { file, line: r.line, index: ++index, value: r.record };
  } else throw new ValidationError(`format "${String(format)}" is not readable`, { file });
}

/**
 * Stream the records of a JSONL (plain or gzip), JSON-array, CSV, TSV or Parquet file with their line numbers (row
 * numbers for Parquet), in bounded memory. With `kind`, each record is validated against that record schema. Bad input follows `onInvalid`: with
 * `"error"` the first bad record throws an error naming file, line and field; with `"skip"` it goes to `rejects`,
 * so that records yielded + records rejected = records in the input.
 *
 * @throws {ParseError} on input that cannot be parsed (policy `error`), or broken structure/encoding (always)
 * @throws {ValidationError} on a record that fails the `kind` schema (policy `error`)
 */
export function readRecords<K extends RecordKind>(file: string, opts: ReadOptions & { kind: K }): AsyncGenerator<LocatedRecord<RecordOf<K>>>;
export function readRecords(file: string, opts?: ReadOptions & { kind?: RecordKind | undefined }): AsyncGenerator<LocatedRecord<unknown>>;
export async function* readRecords(file: string, opts: ReadOptions & { kind?: RecordKind | undefined } = {}): AsyncGenerator<LocatedRecord<unknown>> {
  const policy = new InvalidPolicy(opts.onInvalid ?? "error", opts.rejects);
  const kind = opts.kind;
  if (kind !== undefined && !isRecordKind(kind)) throw new ValidationError(`unknown record kind "${kind}"`, { file });
  let bytes: ByteProgress = { bytesRead: 0, totalBytes: 0 };
  let records = 0;
  const report = () => opts.onProgress?.({ records, rejected: policy.rejected, ...bytes });
  let ok = false;
  let validate: typeof ValidateRecord | undefined;
  try {
    const scan = scanRows(file, {
      ...(opts.format ? { format: opts.format } : {}),
      ...(opts.encoding ? { encoding: opts.encoding } : {}),
      onBytes: (p) => (bytes = p),
    });
    for await (const row of scan) {
      records++;
      if (opts.onProgress && records % 1000 === 0) report();
      if (isBadRow(row)) {
        await policy.handle(row.error, row, row.raw);
        continue;
      }
      if (kind === undefined) {
        yield { record: row.value, file, line: row.line };
        continue;
      }
      // zod and the record schemas load on the first record to validate, so plain reads never pay for them.
      validate ??= (await import("../validate.js")).validateRecord;
      let record: unknown;
      try {
        record = validate(kind, row.value, { file, line: row.line });
      } catch (err) {
        await policy.handle(err, row, row.value);
        continue;
      }
      yield { record, file, line: row.line };
    }
    ok = true;
    report();
  } finally {
    await policy.finish(ok);
  }
}

/** Drop the locations of {@link readRecords}' output: a plain `AsyncIterable` of records for pipelines. */
export async function* recordsOnly<T>(located: AsyncIterable<LocatedRecord<T>>): AsyncGenerator<T> {
  for await (const r of located) yield r.record;
}
