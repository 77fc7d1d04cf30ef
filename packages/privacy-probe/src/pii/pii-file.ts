import { open } from "node:fs/promises";
import { atomicWrite, detectFormat, formatFromName, isBadRow, readLines, scanRows, writeRecords, type TextEncoding } from "@sfmed/schema";
import { PrivacyProbeError } from "../errors.js";
import type { PiiKind, PiiMatch } from "./pii-types.js";
import { PII_KINDS } from "./pii-types.js";
import { redactPii, replacementFor, type RedactOptions } from "./redact-pii.js";
import { scanPii, type ScanPiiOptions } from "./scan-pii.js";

/**
 * `text`: every line is plain text. `jsonl`: every line is a JSON value whose string leaves, object keys and
 * numbers are scanned (untouched lines are written back byte for byte). `json`, `csv`, `tsv`, `parquet`: the
 * records of such a file, scanned the same way and written back in the output's format.
 */
export type PiiFileFormat = "text" | "jsonl" | "json" | "csv" | "tsv" | "parquet";

/**
 * What a scan cannot see, stated in every report: numbers are scanned in their JavaScript decimal form, so
 * integers beyond 2^53 (a 19-digit bank card stored as a JSON number) have already lost digits when parsed.
 */
export const PII_SCAN_LIMITS = "JSON numbers are scanned as parsed: integers above 2^53 (9007199254740991) lose digits; store identifiers as strings";

/** One finding in a file. `preview` is masked: reports never repeat the personal data they found. */
export interface PiiFinding {
  line: number;
  /** JSON path of the string inside the record (`jsonl` only), e.g. `messages.1.content`. */
  field?: string;
  kind: PiiKind;
  start: number;
  end: number;
  score: number;
  preview: string;
  reasons: string[];
}

export interface PiiFileProgress {
  lines: number;
  findings: number;
}

export interface PiiFileReport {
  file: string;
  format: PiiFileFormat;
  /** See {@link PII_SCAN_LIMITS}. */
  limits: string;
  lines: number;
  /** Lines (records) with at least one finding. */
  linesWithPii: number;
  /** Findings per kind. */
  counts: Record<PiiKind, number>;
  total: number;
  /** The first `maxFindings` findings, masked. */
  findings: PiiFinding[];
  elapsedMs: number;
}

export interface ScanPiiFileOptions extends ScanPiiOptions {
  file: string;
  /** @default from the name (`.gz` stripped): `.jsonl`/`.ndjson`, `.json` (array or JSONL, sniffed), `.csv`, `.tsv`, `.parquet` (also by its magic bytes); otherwise "text" */
  format?: PiiFileFormat;
  /** Text encoding; gzip is inflated whatever the name. @default "auto" (UTF-8, UTF-8 with BOM or GB18030; invalid bytes are an error naming line and byte) */
  encoding?: TextEncoding;
  /** Findings kept in the report. @default 100 */
  maxFindings?: number;
  onProgress?: (p: PiiFileProgress) => void;
  /** Lines between progress calls. @default 1000 */
  progressEvery?: number;
}

export interface RedactPiiFileOptions extends ScanPiiFileOptions, RedactOptions {
  output: string;
  /** `redact` rewrites findings in place; `drop` leaves out every line that has one (a pre-training filter). @default "redact" */
  action?: "redact" | "drop";
}

export interface RedactPiiFileReport extends PiiFileReport {
  output: string;
  action: "redact" | "drop";
  mode: NonNullable<RedactOptions["mode"]>;
  linesWritten: number;
}

/** The format to read `file` as (see {@link ScanPiiFileOptions.format}). */
export async function piiFormatOf(file: string, format?: PiiFileFormat): Promise<PiiFileFormat> {
  if (format) return format;
  const byName = formatFromName(file);
  if (byName === "json") return (await detectFormat(file)) === "json" ? "json" : "jsonl";
  if (byName) return byName;
  const fh = await open(file, "r").catch((cause: NodeJS.ErrnoException) => {
    throw new PrivacyProbeError(cause.code === "ENOENT" ? "no such file" : cause.message, { file, cause, ...(cause.code ? { code: cause.code } : {}) });
  });
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    return head.toString("latin1") === "PAR1" ? "parquet" : "text";
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new PrivacyProbeError(code === "EISDIR" ? "is a folder; expected a file" : (cause as Error).message, { file, cause, ...(code ? { code } : {}) });
  } finally {
    await fh.close();
  }
}

const joinPath = (path: string, k: string | number) => (path ? `${path}.${k}` : String(k));

/**
 * Visit every string leaf, object key and number of a JSON value, replacing each with what `fn` returns. A key
 * is reported at the path of its value with `#key` appended; a number whose text `fn` changes becomes a string.
 */
function mapStrings(value: unknown, fn: (s: string, path: string) => string, path = ""): unknown {
  if (typeof value === "string") return fn(value, path);
  if (typeof value === "number") {
    const text = String(value);
    const out = fn(text, path);
    return out === text ? value : out;
  }
  if (Array.isArray(value)) return value.map((v, i) => mapStrings(v, fn, joinPath(path, i)));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = fn(k, `${joinPath(path, k)}#key`);
      out[key] = mapStrings(v, fn, joinPath(path, k));
    }
    return out;
  }
  return value;
}

function parseLine(line: string, file: string, lineNo: number): unknown {
  try {
    return JSON.parse(line);
  } catch (cause) {
    throw new PrivacyProbeError("not valid JSON", { file, line: lineNo, cause });
  }
}

/** One unit of a file: a text line (`text`, `jsonl`) or a parsed record (other formats), with its line. */
type Unit = { line: number; text: string } | { line: number; record: unknown };

async function* unitsOf(file: string, format: PiiFileFormat, encoding: TextEncoding | undefined): AsyncGenerator<Unit> {
  const enc = encoding ? { encoding } : {};
  if (format === "text" || format === "jsonl") {
    for await (const l of readLines(file, enc)) yield { line: l.line, text: l.text };
    return;
  }
  if (format === "parquet") {
    const { readParquet } = await import("@sfmed/schema/parquet");
    for await (const r of readParquet(file)) yield { line: r.line, record: r.record };
    return;
  }
  for await (const row of scanRows(file, { format, ...enc })) {
    if (isBadRow(row)) throw new PrivacyProbeError(row.error.message.replace(/^.*?: /, ""), { file, line: row.line, cause: row.error });
    yield { line: row.line, record: row.value };
  }
}

function emptyCounts(): Record<PiiKind, number> {
  return Object.fromEntries(PII_KINDS.map((k) => [k, 0])) as Record<PiiKind, number>;
}

/** A scanned unit: `out` is what to write (a line, or a record), undefined to drop it. */
type Handled = { out: string | unknown; drop?: boolean };

/** Shared loop of scan and redact: `handle` gets each unit and says what to write. Yields what is written. */
async function* processFile(
  opts: ScanPiiFileOptions,
  format: PiiFileFormat,
  handle: (unit: Unit, found: (m: PiiMatch, field?: string) => void) => Handled,
  result: { report?: PiiFileReport & { linesWritten: number } },
): AsyncGenerator<string | unknown> {
  const started = Date.now();
  const maxFindings = opts.maxFindings ?? 100;
  const every = opts.progressEvery ?? 1000;
  const counts = emptyCounts();
  const findings: PiiFinding[] = [];
  let lines = 0;
  let linesWithPii = 0;
  let total = 0;
  let linesWritten = 0;
  for await (const unit of unitsOf(opts.file, format, opts.encoding)) {
    lines++;
    let any = false;
    const { out, drop } = handle(unit, (m, field) => {
      any = true;
      total++;
      counts[m.kind]++;
      if (findings.length < maxFindings) {
        findings.push({
          line: unit.line,
          ...(field !== undefined ? { field } : {}),
          kind: m.kind,
          start: m.start,
          end: m.end,
          score: m.score,
          preview: replacementFor(m, { mode: "mask", keepStart: 2, keepEnd: 2 }),
          reasons: m.reasons,
        });
      }
    });
    if (any) linesWithPii++;
    if (!drop) {
      linesWritten++;
      yield out;
    }
    if (opts.onProgress && lines % every === 0) opts.onProgress({ lines, findings: total });
  }
  opts.onProgress?.({ lines, findings: total });
  result.report = { file: opts.file, format, limits: PII_SCAN_LIMITS, lines, linesWithPii, counts, total, findings, elapsedMs: Date.now() - started, linesWritten };
}

/**
 * Scan a file for personal data, streaming (memory stays flat for any file size except Parquet, read one row
 * group at a time). gzip is inflated, the encoding detected; `lines` counts text lines or records.
 * @throws {PrivacyProbeError} a `jsonl` line that is not JSON (names file and line)
 * @throws {ParseError} from `@sfmed/schema` on bytes invalid in the encoding (names file, line and byte)
 */
export async function scanPiiFile(opts: ScanPiiFileOptions): Promise<PiiFileReport> {
  const format = await piiFormatOf(opts.file, opts.format);
  const result: { report?: PiiFileReport & { linesWritten: number } } = {};
  const scanValue = (value: unknown, found: (m: PiiMatch, field?: string) => void) =>
    mapStrings(value, (s, field) => {
      for (const m of scanPii(s, opts)) found(m, field);
      return s;
    });
  for await (const _ of processFile(
    opts,
    format,
    (unit, found) => {
      if ("record" in unit) scanValue(unit.record, found);
      else if (format === "text") for (const m of scanPii(unit.text, opts)) found(m);
      else if (unit.text.trim() !== "") scanValue(parseLine(unit.text, opts.file, unit.line), found);
      return { out: undefined, drop: true };
    },
    result,
  ));
  const { linesWritten: _w, ...report } = result.report!;
  return report;
}

/**
 * Redact (or drop) personal data in a file, streaming into `output` through a temporary file renamed at the end.
 * Text and JSONL are written line for line (gzip when `output` ends in `.gz`); JSONL lines without findings are
 * copied unchanged, and records keep their structure: only strings, keys and numbers with findings change.
 * Other record formats are written in the format `output`'s name says (Parquet included).
 * @throws {PrivacyProbeError} a `jsonl` line that is not JSON; code `NO_SALT` for `hash` mode without a salt
 */
export async function redactPiiFile(opts: RedactPiiFileOptions): Promise<RedactPiiFileReport> {
  const format = await piiFormatOf(opts.file, opts.format);
  const action = opts.action ?? "redact";
  const mode = opts.mode ?? "tag";
  if (mode === "hash" && !opts.salt) throw new PrivacyProbeError("hash redaction needs a salt", { code: "NO_SALT", field: "salt" });
  const result: { report?: PiiFileReport & { linesWritten: number } } = {};
  const units = processFile(
    opts,
    format,
    (unit, found) => {
      let hit = false;
      const redactValue = (value: unknown) =>
        mapStrings(value, (s, field) => {
          const r = redactPii(s, opts);
          for (const m of r.matches) found(m, field);
          if (r.matches.length > 0) hit = true;
          return r.text;
        });
      let out: unknown;
      if ("record" in unit) out = redactValue(unit.record);
      else if (format === "text") {
        const r = redactPii(unit.text, opts);
        for (const m of r.matches) found(m);
        hit = r.matches.length > 0;
        out = r.text;
      } else if (unit.text.trim() === "") out = unit.text;
      else {
        const value = redactValue(parseLine(unit.text, opts.file, unit.line));
        out = hit ? JSON.stringify(value) : unit.text;
      }
      return { out, drop: hit && action === "drop" };
    },
    result,
  );
  if (format === "text" || format === "jsonl") {
    await atomicWrite(opts.output, batchLines(units as AsyncIterable<string>));
  } else if (formatFromName(opts.output) === "parquet") {
    const { writeParquet } = await import("@sfmed/schema/parquet");
    await writeParquet(opts.output, units as AsyncIterable<Record<string, unknown>>);
  } else {
    await writeRecords(opts.output, units);
  }
  return { ...result.report!, output: opts.output, action, mode };
}

/** Lines with their breaks, gathered into ~64 KiB chunks. */
async function* batchLines(lines: AsyncIterable<string>): AsyncGenerator<string> {
  let buf: string[] = [];
  let len = 0;
  for await (const l of lines) {
    buf.push(l, "\n");
    len += l.length + 1;
    if (len >= 1 << 16) {
      yield buf.join("");
      buf = [];
      len = 0;
    }
  }
  if (buf.length) yield buf.join("");
}
