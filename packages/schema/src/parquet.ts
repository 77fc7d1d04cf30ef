/**
 * Parquet IO (subpath `@sfmed/schema/parquet`, so that only callers who need Parquet load hyparquet).
 * Reading streams one row group at a time; writing buffers one row group at a time.
 */
import { rename, rm, mkdir } from "node:fs/promises";
import path from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from "hyparquet";
import { fileWriter, ParquetWriter } from "hyparquet-writer";
import { ParseError, ValidationError } from "./errors.js";
import { statInputFile } from "./io/byte-source.js";
import { registerTemp, tempPathFor } from "./io/temp-files.js";
import { InvalidPolicy, type OnInvalid, type RejectSink } from "./io/rejects.js";
import type { LocatedRecord } from "./io/read-records.js";
import { recordSchemas, type RecordKind, type RecordOf } from "./records.js";
import { validateRecord } from "./validate.js";

/** Options of {@link readParquet}. */
export interface ParquetReadOptions {
  /** Validate each row against this record kind. */
  kind?: RecordKind | undefined;
  /** Only these columns. @default all */
  columns?: string[];
  /** @default "error" */
  onInvalid?: OnInvalid;
  /** With `onInvalid: "skip"`, a rejects JSONL path or a sink. */
  rejects?: string | RejectSink;
  /** Called after each row group with the rows read so far and the total. */
  onProgress?: (p: { records: number; totalRecords: number }) => void;
}

/** Values of a Parquet row as JSON-friendly values: BigInt → number (or string when unsafe), null → dropped. */
function normalizeRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || v === undefined) continue;
    out[k] = normalizeValue(v);
  }
  return out;
}
function normalizeValue(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(normalizeValue);
  if (v && typeof v === "object" && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = normalizeValue(x);
    return o;
  }
  return v;
}

/**
 * Stream the rows of a Parquet file as objects, one row group in memory at a time; `line` is the 1-based row
 * number. Missing (null) values are dropped, 64-bit integers become numbers. With `kind`, rows are validated.
 *
 * @throws {ValidationError} on an invalid row (policy `error`), naming the file, row and field
 */
/** A Parquet source that is not a local file (HTTP range reads of a Hub file): its name for messages and its bytes. */
export interface ParquetSource {
  name: string;
  buffer: AsyncBuffer;
}

export function readParquet<K extends RecordKind>(source: string | ParquetSource, opts: ParquetReadOptions & { kind: K }): AsyncGenerator<LocatedRecord<RecordOf<K>>>;
export function readParquet(source: string | ParquetSource, opts?: ParquetReadOptions): AsyncGenerator<LocatedRecord<unknown>>;
export async function* readParquet(source: string | ParquetSource, opts: ParquetReadOptions = {}): AsyncGenerator<LocatedRecord<unknown>> {
  const file = typeof source === "string" ? source : source.name;
  const kind = opts.kind;
  if (kind !== undefined && !(kind in recordSchemas)) throw new ValidationError(`unknown record kind "${kind}"`, { file });
  const policy = new InvalidPolicy(opts.onInvalid ?? "error", opts.rejects);
  let ok = false;
  try {
    if (typeof source === "string") await statInputFile(file);
    const buffer = typeof source === "string" ? await asyncBufferFromFile(file) : source.buffer;
    let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (cause) {
      throw new ParseError(`not a readable Parquet file: ${(cause as Error).message}`, { file, cause });
    }
    const totalRecords = Number(metadata.num_rows);
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let rows: Array<Record<string, unknown>>;
      try {
        rows = (await parquetReadObjects({
          file: buffer,
          metadata,
          rowStart,
          rowEnd,
          ...(opts.columns ? { columns: opts.columns } : {}),
        })) as Array<Record<string, unknown>>;
      } catch (cause) {
        throw new ParseError(`corrupt Parquet data in rows ${rowStart + 1}–${rowEnd}: ${(cause as Error).message}`, { file, cause });
      }
      for (let i = 0; i < rows.length; i++) {
        const line = rowStart + i + 1;
        const value = normalizeRow(rows[i]!);
        if (kind === undefined) {
          yield { record: value, file, line };
          continue;
        }
        let record: unknown;
        try {
          record = validateRecord(kind, value, { file, line });
        } catch (err) {
          await policy.handle(err, { file, line }, value);
          continue;
        }
        yield { record, file, line };
      }
      rowStart = rowEnd;
      opts.onProgress?.({ records: rowStart, totalRecords });
    }
    ok = true;
  } finally {
    await policy.finish(ok);
  }
}

/** Options of {@link writeParquet}. */
export interface ParquetWriteOptions {
  /** Rows per row group (also how many rows are held in memory). @default 10000 */
  rowGroupSize?: number;
  /** Column order. @default keys of the first row group's records, in first-seen order */
  columns?: string[];
  onProgress?: (written: number) => void;
}

type ColumnType = "STRING" | "JSON";

/**
 * Write records to Parquet atomically (temp file + rename). Columns whose values in the first row group are all
 * strings become UTF-8 columns; any other column (including one with no values yet) is stored as Parquet JSON, so nested records (messages, options,
 * meta) round-trip. Every column is nullable: a missing field is written as null and read back as missing.
 *
 * @throws {ValidationError} when a later record has a field not seen in the first row group, or a non-string
 * value in a string column (pass `columns` or reorder the input)
 */
export async function writeParquet(
  file: string,
  records: AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>,
  opts: ParquetWriteOptions = {},
): Promise<{ count: number }> {
  const size = opts.rowGroupSize ?? 10_000;
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempPathFor(file);
  const unregister = registerTemp(tmp);
  let writer: ParquetWriter | undefined;
  let columns: string[] | undefined = opts.columns;
  let types: ColumnType[] = [];
  let batch: Array<Record<string, unknown>> = [];
  let count = 0;
  const flush = async () => {
    if (!writer) {
      if (!columns) {
        const seen = new Set<string>();
        for (const r of batch) for (const k of Object.keys(r)) seen.add(k);
        columns = [...seen];
      }
      // A column is plain UTF-8 only when the first row group shows strings in it; empty or mixed columns are JSON.
      types = columns.map((c) => {
        const vals = batch.map((r) => r[c]).filter((v) => v !== undefined && v !== null);
        return vals.length > 0 && vals.every((v) => typeof v === "string") ? "STRING" : "JSON";
      });
      const schema = [
        { name: "root", num_children: columns.length },
        ...columns.map((name, i) =>
          types[i] === "STRING"
            ? { name, type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const, repetition_type: "OPTIONAL" as const }
            : { name, type: "BYTE_ARRAY" as const, converted_type: "JSON" as const, repetition_type: "OPTIONAL" as const },
        ),
      ];
      writer = new ParquetWriter({ writer: fileWriter(tmp), schema, createdBy: "@sfmed/schema" });
    }
    if (!batch.length) return;
    const cols = columns!;
    const known = new Set(cols);
    for (const [i, r] of batch.entries()) {
      for (const k of Object.keys(r)) {
        if (!known.has(k)) throw new ValidationError(`field "${k}" was not in the first ${size} records; pass columns`, { file, line: count - batch.length + i + 1, field: k });
      }
    }
    const columnData = cols.map((name, ci) => ({
      name,
      data: batch.map((r, i) => {
        const v = r[name];
        if (v === undefined || v === null) return null;
        if (types[ci] === "STRING" && typeof v !== "string") {
          throw new ValidationError(`expected a string (column type fixed by the first row group)`, { file, line: count - batch.length + i + 1, field: name });
        }
        return v;
      }),
    }));
    await writer.write({ columnData, rowGroupSize: batch.length });
    batch = [];
    opts.onProgress?.(count);
  };
  try {
    for await (const r of records) {
      batch.push(r);
      count++;
      if (batch.length >= size) await flush();
    }
    await flush();
    await writer!.finish();
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    unregister();
  }
  return { count };
}
