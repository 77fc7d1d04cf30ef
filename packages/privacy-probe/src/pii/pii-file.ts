import { PrivacyProbeError } from "../errors.js";
import { openAtomicWriter } from "../io/atomic-write.js";
import { readLines } from "../io/read-lines.js";
import type { PiiKind, PiiMatch } from "./pii-types.js";
import { PII_KINDS } from "./pii-types.js";
import { redactPii, replacementFor, type RedactOptions } from "./redact-pii.js";
import { scanPii, type ScanPiiOptions } from "./scan-pii.js";

/** `text`: every line is plain text. `jsonl`: every line is a JSON value whose string leaves are scanned. */
export type PiiFileFormat = "text" | "jsonl";

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
  /** @default "jsonl" for `.jsonl`/`.ndjson` files, otherwise "text" */
  format?: PiiFileFormat;
  /** @default "utf-8" */
  encoding?: string;
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

function formatOf(file: string, format: PiiFileFormat | undefined): PiiFileFormat {
  return format ?? (/\.(?:jsonl|ndjson)$/i.test(file) ? "jsonl" : "text");
}

/** Visit every string leaf of a JSON value, replacing it with what `fn` returns. */
function mapStrings(value: unknown, fn: (s: string, path: string) => string, path = ""): unknown {
  if (typeof value === "string") return fn(value, path);
  if (Array.isArray(value)) return value.map((v, i) => mapStrings(v, fn, path ? `${path}.${i}` : String(i)));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mapStrings(v, fn, path ? `${path}.${k}` : k);
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

function emptyCounts(): Record<PiiKind, number> {
  return Object.fromEntries(PII_KINDS.map((k) => [k, 0])) as Record<PiiKind, number>;
}

/** Shared loop of scan and redact: `handle` gets each line and returns the line to write (or undefined to drop). */
async function processFile(
  opts: ScanPiiFileOptions,
  handle: (line: string, found: (m: PiiMatch, field?: string) => void, lineNo: number) => string | undefined,
  sink?: (line: string) => Promise<void>,
): Promise<PiiFileReport & { linesWritten: number }> {
  const started = Date.now();
  const format = formatOf(opts.file, opts.format);
  const maxFindings = opts.maxFindings ?? 100;
  const every = opts.progressEvery ?? 1000;
  const counts = emptyCounts();
  const findings: PiiFinding[] = [];
  let lines = 0;
  let linesWithPii = 0;
  let total = 0;
  let linesWritten = 0;
  for await (const line of readLines(opts.file, opts.encoding ? { encoding: opts.encoding } : {})) {
    lines++;
    let any = false;
    const out = handle(
      line,
      (m, field) => {
        any = true;
        total++;
        counts[m.kind]++;
        if (findings.length < maxFindings) {
          findings.push({
            line: lines,
            ...(field !== undefined ? { field } : {}),
            kind: m.kind,
            start: m.start,
            end: m.end,
            score: m.score,
            preview: replacementFor(m, { mode: "mask", keepStart: 2, keepEnd: 2 }),
            reasons: m.reasons,
          });
        }
      },
      lines,
    );
    if (any) linesWithPii++;
    if (sink && out !== undefined) {
      await sink(out + "\n");
      linesWritten++;
    }
    if (opts.onProgress && lines % every === 0) opts.onProgress({ lines, findings: total });
  }
  opts.onProgress?.({ lines, findings: total });
  return { file: opts.file, format, lines, linesWithPii, counts, total, findings, elapsedMs: Date.now() - started, linesWritten };
}

/**
 * Scan a file for personal data, streaming line by line (memory stays flat for any file size).
 * @throws {PrivacyProbeError} a `jsonl` line that is not JSON (names file and line)
 */
export async function scanPiiFile(opts: ScanPiiFileOptions): Promise<PiiFileReport> {
  const format = formatOf(opts.file, opts.format);
  const { linesWritten: _w, ...report } = await processFile(opts, (line, found, lineNo) => {
    if (format === "text") {
      for (const m of scanPii(line, opts)) found(m);
    } else if (line.trim() !== "") {
      mapStrings(parseLine(line, opts.file, lineNo), (s, field) => {
        for (const m of scanPii(s, opts)) found(m, field);
        return s;
      });
    }
    return undefined;
  });
  return report;
}

/**
 * Redact (or drop) personal data in a file, streaming into `output` through a temporary file renamed at the end.
 * JSONL records keep their structure: only string leaves change. Empty lines pass through.
 * @throws {PrivacyProbeError} a `jsonl` line that is not JSON; code `NO_SALT` for `hash` mode without a salt
 */
export async function redactPiiFile(opts: RedactPiiFileOptions): Promise<RedactPiiFileReport> {
  const format = formatOf(opts.file, opts.format);
  const action = opts.action ?? "redact";
  const mode = opts.mode ?? "tag";
  if (mode === "hash" && !opts.salt) throw new PrivacyProbeError("hash redaction needs a salt", { code: "NO_SALT", field: "salt" });
  const writer = await openAtomicWriter(opts.output);
  try {
    const report = await processFile(
      opts,
      (line, found, lineNo) => {
        let hit = false;
        let out: string;
        if (format === "text") {
          const r = redactPii(line, opts);
          for (const m of r.matches) found(m);
          hit = r.matches.length > 0;
          out = r.text;
        } else if (line.trim() === "") {
          out = line;
        } else {
          const value = mapStrings(parseLine(line, opts.file, lineNo), (s, field) => {
            const r = redactPii(s, opts);
            for (const m of r.matches) found(m, field);
            if (r.matches.length > 0) hit = true;
            return r.text;
          });
          out = hit ? JSON.stringify(value) : line;
        }
        if (hit && action === "drop") return undefined;
        return out;
      },
      (chunk) => writer.write(chunk),
    );
    await writer.commit();
    return { ...report, output: opts.output, action, mode };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
