import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { SchemaError, ValidationError } from "../errors.js";
import type { TextEncoding } from "../io/encoding.js";
import { scanRows } from "../io/read-records.js";
import { InvalidPolicy, type OnInvalid, type RejectSink } from "../io/rejects.js";
import { isBadRow, type RowItem } from "../io/rows.js";
import type { RecordKind, RecordOf } from "../records.js";
import { validateRecord } from "../validate.js";

/** Options every converter's `from` takes. */
export interface ConvertOptions {
  /** What to do with an input record that cannot be converted or fails validation. @default "error" */
  onInvalid?: OnInvalid;
  /** With `onInvalid: "skip"`: a rejects JSONL path (committed when the input is done) or a sink. */
  rejects?: string | RejectSink;
  /** Text encoding of the input files. @default "auto" (UTF-8, UTF-8 BOM or GB18030) */
  encoding?: TextEncoding;
  /** Called about every 1,000 input records and at the end of each file. */
  onProgress?: (p: ConvertProgress) => void;
  /**
   * Keep only the medical subjects (C-Eval/CMMLU: {@link CEVAL_MEDICAL_SUBJECTS}, {@link CMMLU_MEDICAL_SUBJECTS};
   * CMB-Exam: every class but {@link CMB_NON_MEDICAL_CLASSES}). Converters without a subject list throw.
   * @default false
   */
  medicalOnly?: boolean;
}

/** Progress of a conversion. */
export interface ConvertProgress {
  file: string;
  /** Input records seen so far (converted or rejected), all files. */
  inputs: number;
  /** Output records produced so far. */
  outputs: number;
  rejected: number;
  bytesRead: number;
  totalBytes: number;
}

/** A converter from one public format into canonical records of one kind. */
export interface Converter<K extends RecordKind = RecordKind> {
  readonly name: string;
  readonly kind: K;
  readonly description: string;
  /** Whether `from` takes `medicalOnly` (the converter knows which of its subjects are medical). */
  readonly medicalFilter: boolean;
  /**
   * Convert a file or a directory (read recursively, in sorted order) into validated records. Each output
   * record is validated against `kind`; a record that fails names the input file, line and field.
   *
   * @throws {ValidationError | ParseError} on the first bad input record with `onInvalid: "error"`
   */
  from(input: string, opts?: ConvertOptions): AsyncGenerator<RecordOf<K>>;
}

/** Where an input record sits, for ids and error messages. */
export interface RowContext<Tag = undefined> {
  file: string;
  /** File name without directory and extensions (`.gz`, `.json`, …). */
  stem: string;
  /** Name of the directory holding the file (a split name such as `dev` or `val` for CMMLU/C-Eval). */
  parent: string;
  line: number;
  /** 1-based record index within the file. */
  index: number;
  tag: Tag;
  /** Throw a ValidationError for this input record, naming the source field. */
  fail(reason: string, field?: string): never;
}

/** A row from a converter's own reader, with optional per-row data for `map` (e.g. a column mapping). */
export type TaggedRow<Tag> = RowItem & { tag?: Tag };

export interface ConverterSpec<K extends RecordKind, Tag = undefined> {
  name: string;
  kind: K;
  description: string;
  /** File extensions to pick up when the input is a directory. @default [".json", ".jsonl", ".csv"] */
  extensions?: string[];
  /** Read one input file. @default {@link scanRows} (JSONL, JSON array or CSV by extension/sniffing) */
  rows?: (file: string, opts: ConvertOptions) => AsyncIterable<TaggedRow<Tag>>;
  /** Expand the input into files, each with optional data for `map`. @default the file, or the matching files under a directory */
  files?: (input: string) => Promise<Array<{ file: string; tag: Tag }>>;
  /** Map one input record to zero, one or several output records (validated afterwards). */
  map: (value: unknown, ctx: RowContext<Tag>) => unknown;
  /**
   * What `medicalOnly` keeps: whole files by name (never read otherwise) and/or rows by their raw value (a dropped
   * row counts as an input, not as a reject). Without it, `medicalOnly` is an error.
   */
  medical?: { file?: (file: string) => boolean; row?: (value: unknown) => boolean };
}

/** Strip directory and extensions: `data/val.from_xlsx.csv` → `val.from_xlsx`, `a.jsonl.gz` → `a`. */
export function fileStem(file: string): string {
  return path.basename(file).replace(/\.gz$/i, "").replace(/\.(jsonl|ndjson|json|csv|tsv|txt|parquet)$/i, "");
}

/** The files of `input`: itself, or every file under it (recursively) with one of `exts`, sorted. */
export async function inputFiles(input: string, exts: string[]): Promise<string[]> {
  const st = await stat(input).catch((cause: NodeJS.ErrnoException) => {
    throw new SchemaError(cause.code === "ENOENT" ? "no such file" : cause.message, { file: input, code: cause.code ?? "EIO", cause });
  });
  if (!st.isDirectory()) return [input];
  const out: string[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (exts.some((x) => e.name.toLowerCase().endsWith(x) || e.name.toLowerCase().endsWith(x + ".gz"))) out.push(p);
    }
  };
  await walk(input);
  out.sort();
  if (!out.length) throw new ValidationError(`no ${exts.join("/")} files under the directory`, { file: input });
  return out;
}

/** Build a {@link Converter} from a reader and a per-record mapping; applies validation and the reject policy. */
export function defineConverter<K extends RecordKind, Tag = undefined>(spec: ConverterSpec<K, Tag>): Converter<K> {
  const exts = spec.extensions ?? [".json", ".jsonl", ".csv"];
  async function* from(input: string, opts: ConvertOptions = {}): AsyncGenerator<RecordOf<K>> {
    const policy = new InvalidPolicy(opts.onInvalid ?? "error", opts.rejects);
    let ok = false;
    let inputs = 0;
    let outputs = 0;
    try {
      if (opts.medicalOnly && !spec.medical) throw new ValidationError(`converter "${spec.name}" has no list of medical subjects; drop medicalOnly`, { file: input });
      let files = spec.files ? await spec.files(input) : (await inputFiles(input, exts)).map((file) => ({ file, tag: undefined as Tag }));
      const keepFile = opts.medicalOnly ? spec.medical?.file : undefined;
      const keepRow = opts.medicalOnly ? spec.medical?.row : undefined;
      if (keepFile) files = files.filter((f) => keepFile(f.file));
      for (const { file, tag } of files) {
        let bytes = { bytesRead: 0, totalBytes: 0 };
        const report = () => opts.onProgress?.({ file, inputs, outputs, rejected: policy.rejected, ...bytes });
        const rows: AsyncIterable<TaggedRow<Tag>> = spec.rows
          ? spec.rows(file, opts)
          : scanRows(file, { ...(opts.encoding ? { encoding: opts.encoding } : {}), onBytes: (p) => (bytes = p) });
        const stem = fileStem(file);
        const parent = path.basename(path.dirname(path.resolve(file)));
        for await (const row of rows) {
          inputs++;
          if (opts.onProgress && inputs % 1000 === 0) report();
          if (isBadRow(row)) {
            await policy.handle(row.error, row, row.raw);
            continue;
          }
          if (keepRow && !keepRow(row.value)) continue;
          const loc = { file: row.file, line: row.line };
          const ctx: RowContext<Tag> = {
            file: row.file,
            stem,
            parent,
            line: row.line,
            index: row.index,
            tag: row.tag === undefined ? tag : row.tag,
            fail(reason, field) {
              throw new ValidationError(reason, { ...loc, field });
            },
          };
          let valid: Array<RecordOf<K>>;
          try {
            const mapped = spec.map(row.value, ctx);
            const list = Array.isArray(mapped) ? mapped : [mapped];
            valid = list.map((r) => validateRecord(spec.kind, r, loc));
          } catch (err) {
            await policy.handle(err, loc, row.value);
            continue;
          }
          outputs += valid.length;
          yield* valid;
        }
        report();
      }
      ok = true;
    } finally {
      await policy.finish(ok);
    }
  }
  return { name: spec.name, kind: spec.kind, description: spec.description, medicalFilter: spec.medical !== undefined, from };
}

// ---- small helpers for mappings ----

/** The value as a plain object, or a failure naming the record. */
export function asObject(value: unknown, ctx: RowContext<unknown>): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) ctx.fail(`expected a JSON object, got ${Array.isArray(value) ? "an array" : typeof value}`);
  return value as Record<string, unknown>;
}

/** A required string field (numbers are accepted and stringified: CSV/JSON exports often mix them). */
export function str(obj: Record<string, unknown>, key: string, ctx: RowContext<unknown>): string {
  const v = obj[key];
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return ctx.fail(v === undefined ? `missing field "${key}"` : `"${key}" must be a string`, key);
}

/** An optional string field. */
export function optStr(obj: Record<string, unknown>, key: string, ctx: RowContext<unknown>): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return ctx.fail(`"${key}" must be a string`, key);
}

/** A source id usable in a record id, or undefined when the source has none. */
export function sourceId(v: unknown): string | undefined {
  if (typeof v === "string" && v.trim()) return v.trim();
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A record id kept exactly as the row has it (our own exports round-trip), or undefined when absent/empty. */
export function verbatimId(v: unknown): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}
