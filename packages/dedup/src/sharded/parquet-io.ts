/**
 * Parquet for the sharded stages' intermediate files: written a row group at a time through a temp file that is
 * renamed into place (readers never see half a file), read back a row group at a time as typed columns.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, type AsyncBuffer, type FileMetaData } from "hyparquet";
import { fileWriter, ParquetWriter } from "hyparquet-writer";
import { AtomicPath } from "@sfmed/schema/io";

export type ColumnType = "INT32" | "INT64" | "STRING" | "BOOLEAN";

/** Column name → Parquet type, in file order; `stats` keeps min/max per row group (used to skip row groups). */
export type ParquetSchema = ReadonlyArray<readonly [name: string, type: ColumnType, opts?: { stats?: boolean; compress?: boolean }]>;

export type ColumnValues = Int32Array | BigInt64Array | Array<string | null> | boolean[];

function schemaElements(schema: ParquetSchema) {
  return [
    { name: "root", num_children: schema.length },
    ...schema.map(([name, type]) =>
      type === "STRING"
        ? { name, type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const, repetition_type: "OPTIONAL" as const }
        : { name, type, repetition_type: "REQUIRED" as const },
    ),
  ];
}

/**
 * A Parquet file written row group by row group to a temp beside it (schema's `AtomicPath`); `commit()` renames
 * it into place, `abort()` removes it.
 */
export class ParquetOut {
  private readonly writer: ParquetWriter;
  rows = 0;

  private constructor(private readonly out: AtomicPath, readonly schema: ParquetSchema) {
    this.writer = new ParquetWriter({ writer: fileWriter(out.path), schema: schemaElements(schema), createdBy: "@sfmed/dedup" });
  }

  get file(): string {
    return this.out.file;
  }

  static async create(file: string, schema: ParquetSchema): Promise<ParquetOut> {
    const out = await AtomicPath.create(file);
    try {
      return new ParquetOut(out, schema);
    } catch (err) {
      await out.abort();
      throw err;
    }
  }

  /** One row group (all columns of equal length, in schema order). */
  writeGroup(columns: readonly ColumnValues[]): void {
    const n = columns[0]?.length ?? 0;
    if (n === 0) return;
    this.writer.write({
      // statistics and snappy only where they pay: hashes neither compress nor get filtered on (but hash_hi)
      columnData: this.schema.map(([name, , o], i) => ({
        name,
        data: columns[i]!,
        statistics: o?.stats ?? false,
        ...(o?.compress === false ? { codec: "UNCOMPRESSED" as const } : {}),
      })),
      rowGroupSize: n,
    });
    this.rows += n;
  }

  async commit(): Promise<void> {
    this.writer.finish();
    await this.out.commit();
  }

  async abort(): Promise<void> {
    await this.out.abort();
  }
}

/** Write one file of `columns` in row groups of `groupRows`, atomically. */
export async function writeParquetColumns(file: string, schema: ParquetSchema, columns: readonly ColumnValues[], groupRows = 1 << 16): Promise<void> {
  const out = await ParquetOut.create(file, schema);
  try {
    const n = columns[0]?.length ?? 0;
    for (let s = 0; s < n; s += groupRows) out.writeGroup(columns.map((c) => c.slice(s, Math.min(n, s + groupRows)) as ColumnValues));
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** An open Parquet file: its metadata and row-group reads of chosen columns. */
export class ParquetIn {
  private constructor(readonly file: string, private readonly buffer: AsyncBuffer, readonly metadata: FileMetaData) {}

  static async open(file: string): Promise<ParquetIn> {
    const buffer = await asyncBufferFromFile(file);
    return new ParquetIn(file, buffer, await parquetMetadataAsync(buffer));
  }

  get rowGroups(): number {
    return this.metadata.row_groups.length;
  }

  get rows(): number {
    return Number(this.metadata.num_rows);
  }

  /** First row of each row group, plus the total at the end. */
  groupStarts(): number[] {
    const starts = [0];
    for (const g of this.metadata.row_groups) starts.push(starts[starts.length - 1]! + Number(g.num_rows));
    return starts;
  }

  /** Min and max statistics of a column in a row group, where the writer stored them. */
  groupStats(group: number, column: string): { min: unknown; max: unknown } | undefined {
    const c = this.metadata.row_groups[group]?.columns.find((x) => x.meta_data?.path_in_schema.join(".") === column);
    const s = c?.meta_data?.statistics;
    return s ? { min: s.min_value ?? s.min, max: s.max_value ?? s.max } : undefined;
  }

  /** Rows [rowStart, rowEnd) of the named columns, each as the array hyparquet decodes (Int32Array for INT32). */
  async read(columns: readonly string[], rowStart: number, rowEnd: number): Promise<Record<string, ArrayLike<unknown>>> {
    const out: Record<string, ArrayLike<unknown>> = {};
    if (rowEnd <= rowStart) {
      for (const c of columns) out[c] = [];
      return out;
    }
    const parts: Record<string, Array<{ start: number; data: ArrayLike<unknown> }>> = {};
    await parquetRead({
      file: this.buffer,
      metadata: this.metadata,
      columns: [...columns],
      rowStart,
      rowEnd,
      onChunk: (ch) => {
        (parts[ch.columnName] ??= []).push({ start: ch.rowStart, data: ch.columnData as ArrayLike<unknown> });
      },
    });
    for (const c of columns) {
      const list = (parts[c] ?? []).sort((a, b) => a.start - b.start);
      // chunks may reach outside the range asked for: cut to it
      const first = list[0];
      if (list.length === 1 && first && first.start === rowStart && first.data.length === rowEnd - rowStart) {
        out[c] = first.data;
        continue;
      }
      const all: unknown[] = new Array(rowEnd - rowStart);
      for (const p of list) {
        const from = Math.max(rowStart, p.start);
        const to = Math.min(rowEnd, p.start + p.data.length);
        for (let r = from; r < to; r++) all[r - rowStart] = p.data[r - p.start];
      }
      out[c] = all;
    }
    return out;
  }

  /** A whole row group. */
  async readGroup(columns: readonly string[], group: number): Promise<Record<string, ArrayLike<unknown>>> {
    const starts = this.groupStarts();
    return this.read(columns, starts[group]!, starts[group + 1]!);
  }
}

/** Int32 column values (INT32 comes back as Int32Array; anything else is converted). */
export function asInt32(values: ArrayLike<unknown>): Int32Array {
  if (values instanceof Int32Array) return values;
  // dictionary-encoded columns come back as plain arrays of numbers
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] as number;
  return out;
}

/** INT64 column values as numbers (byte offsets and positions stay below 2^53). */
export function asNumbers(values: ArrayLike<unknown>): Float64Array {
  return Float64Array.from(values as ArrayLike<number>, (v) => Number(v));
}
