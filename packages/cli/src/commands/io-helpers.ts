// Shared by the subcommands: output guards, the record flags (--on-invalid, --schema, --encoding), reject files,
// Parquet dispatch, progress.
import { createWriteStream, rmSync } from "node:fs";
import { open, rename, stat } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import {
  checkOutputPaths,
  createRejectsFile,
  registerTemp,
  sweepStaleTemps,
  formatFromName,
  readRecords,
  RECORD_KINDS,
  writeRecords,
  type LocatedRecord,
  type OnInvalid,
  type ReadProgress,
  type RecordKind,
  type RejectsFile,
  type RejectSink,
  type Reject,
  type TextEncoding,
} from "@sfmed/schema/io";
import { UsageError } from "../context.js";
import { enumFlag } from "../flags.js";
import { createProgress, type Progress } from "../progress.js";
import { hubInputFiles, isHubUri } from "./hub-inputs.js";

type PathsByFlag = Record<string, string | readonly string[] | undefined>;

/**
 * Every command that writes calls this before it reads anything: outputs must not name an input or each other
 * (exit 2 naming both flags), and temp files that a killed earlier run left beside the outputs are swept.
 *
 * @param opts.dirs output flags that name folders (their stale temps are swept inside them)
 */
export async function guardOutputs(opts: { inputs?: PathsByFlag; outputs: PathsByFlag; dirs?: readonly string[] }): Promise<void> {
  checkOutputPaths({ inputs: opts.inputs ?? {}, outputs: opts.outputs });
  for (const [flag, v] of Object.entries(opts.outputs)) {
    if (typeof v !== "string" || v === "-") continue;
    if (opts.dirs?.includes(flag)) await sweepStaleTemps(v);
    else await sweepStaleTemps(path.dirname(path.resolve(v)), { prefix: path.basename(v) });
  }
}

/**
 * Check that an input file exists and is a file (not a folder), so the error names the flag and the path.
 * @throws UsageError
 */
export async function requireFile(flag: string, file: string): Promise<void> {
  if (file === "-" || isHubUri(file)) return;
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`${flag}: ${file}: ${e.code === "ENOENT" ? "no such file" : e.message}`);
  });
  if (st.isDirectory()) throw new UsageError(`${flag}: ${file} is a folder; expected a file`);
}

/** With `--allow-empty` unset, a run that produced nothing is a failure (every record rejected, nothing matched). */
export class EmptyResultError extends Error {
  override readonly name = "EmptyResultError";
  readonly code = "EEMPTY";
}

export function requireNonEmpty(count: number, what: string, allowEmpty: boolean | undefined): void {
  if (count === 0 && !allowEmpty) throw new EmptyResultError(`${what}; pass --allow-empty to accept an empty result`);
}

export function parseOnInvalid(v: string | undefined, rejects: string | undefined): OnInvalid {
  const mode = enumFlag("on-invalid", v ?? "error", ["error", "skip"] as const, { expected: "error or skip" });
  if (rejects && mode !== "skip") throw new UsageError("--rejects needs --on-invalid skip");
  return mode;
}

export function parseKind(v: string | undefined): RecordKind | undefined {
  const kinds = RECORD_KINDS;
  return enumFlag("schema", v, kinds, { expected: `one of ${kinds.join(", ")}` });
}

export function parseEncoding(v: string | undefined): TextEncoding | undefined {
  return enumFlag("encoding", v, ["auto", "utf-8", "gb18030"] as const, { expected: "auto, utf-8 or gb18030" });
}

/** Open the rejects file when asked for; the caller commits it on success and aborts it on failure. */
export async function openRejects(path: string | undefined): Promise<RejectsFile | undefined> {
  return path ? createRejectsFile(path) : undefined;
}

/** A sink that counts rejects and forwards them to the rejects file, if any. */
export function countingSink(file: RejectsFile | undefined): RejectSink & { count: number } {
  const sink = {
    count: 0,
    write(r: Reject) {
      sink.count++;
      return file?.write(r);
    },
  };
  return sink;
}

const isParquet = (file: string) => formatFromName(file) === "parquet";

/** Read records of any supported file, Parquet included (loaded only when needed). */
export async function* readAny(
  file: string,
  opts: { kind?: RecordKind | undefined; onInvalid: OnInvalid; rejects?: RejectSink | undefined; encoding?: TextEncoding | undefined; onProgress?: (p: ReadProgress) => void },
): AsyncGenerator<LocatedRecord<unknown>> {
  const common = { onInvalid: opts.onInvalid, ...(opts.rejects ? { rejects: opts.rejects } : {}), ...(opts.kind ? { kind: opts.kind } : {}) };
  if (isParquet(file)) {
    const { readParquet } = await import("@sfmed/schema/parquet");
    yield* readParquet(file, common);
    return;
  }
  yield* readRecords(file, { ...common, ...(opts.encoding ? { encoding: opts.encoding } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
}

/** Write records to any supported file (by extension), atomically; `-` streams JSONL to stdout. */
export async function writeAny(file: string, records: AsyncIterable<unknown>): Promise<{ count: number }> {
  if (file === "-") return writeJsonlTo(process.stdout, records);
  if (isParquet(file)) {
    const { writeParquet } = await import("@sfmed/schema/parquet");
    return writeParquet(file, records as AsyncIterable<Record<string, unknown>>);
  }
  return writeRecords(file, records);
}

/** Count records flowing through, drawing a progress bar on a TTY. */
export async function* counted<T>(records: AsyncIterable<T>, bar: Progress, counter: { n: number }): AsyncGenerator<T> {
  for await (const r of records) {
    counter.n++;
    if ((counter.n & 1023) === 0) bar.update(counter.n);
    yield r;
  }
  bar.update(counter.n);
}

export function recordBar(label: string, quiet: boolean): Progress {
  return createProgress({ label, unit: "rec", quiet });
}

/** JSONL to a stream (stdout), gathered into ~64 KiB writes and honouring back-pressure. */
export async function writeJsonlTo(out: NodeJS.WritableStream, records: AsyncIterable<unknown> | Iterable<unknown>): Promise<{ count: number }> {
  let count = 0;
  let buf = "";
  const flush = async () => {
    if (buf && !out.write(buf)) await once(out, "drain");
    buf = "";
  };
  for await (const r of records) {
    buf += JSON.stringify(r) + "\n";
    count++;
    if (buf.length >= 65536) await flush();
  }
  await flush();
  return { count };
}

/** The extension that makes the readers pick the right format for content whose name says nothing. */
export function extensionFor(head: Uint8Array): string {
  if (head.length >= 4 && Buffer.from(head.subarray(0, 4)).toString("latin1") === "PAR1") return ".parquet";
  let text = head;
  let gz = "";
  if (head[0] === 0x1f && head[1] === 0x8b) {
    gz = ".gz";
    try {
      text = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH: a cut stream is fine */ });
    } catch {
      return ".jsonl.gz";
    }
  }
  const body = Buffer.from(text).toString("latin1").replace(/^\xef\xbb\xbf/, "").trimStart();
  const first = body[0];
  if (first === "[") return ".json" + gz;
  if (first === "{" || first === undefined) return ".jsonl" + gz;
  const line = body.split(/\r?\n/, 1)[0]!;
  if (line.includes("\t")) return ".tsv" + gz;
  return (line.includes(",") ? ".csv" : ".txt") + gz;
}

let stdinCopy: Promise<string> | undefined;

/**
 * `-` as an input: stdin is copied once into a private temp file named by its content (`.jsonl`, `.json`,
 * `.csv`, `.tsv`, `.txt`, `.parquet`, `+.gz`), so format sniffing, encoding detection, gzip and Parquet work as for any file.
 * The copy is removed when the process exits or is interrupted.
 */
export function stdinAsFile(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  stdinCopy ??= (async () => {
    const raw = path.join(tmpdir(), `sfmed-stdin-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    const forget = registerTemp(raw);
    process.once("exit", () => rmSync(raw, { force: true }));
    await pipeline(stdin, createWriteStream(raw));
    const fh = await open(raw, "r");
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0).finally(() => fh.close());
    const named = raw + extensionFor(head.subarray(0, bytesRead));
    await rename(raw, named);
    forget();
    registerTemp(named);
    process.once("exit", () => rmSync(named, { force: true }));
    return named;
  })();
  return stdinCopy;
}

/**
 * Inputs with `-` replaced by the copy of stdin (see {@link stdinAsFile}) and each `hf://datasets/…` URI by its
 * cached files (a glob or folder may give several; see hub-inputs.ts).
 */
export async function resolveInputs(files: readonly string[], opts: { quiet?: boolean } = {}): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    if (f === "-") out.push(await stdinAsFile());
    else if (isHubUri(f)) out.push(...(await hubInputFiles(f, opts.quiet ?? false)));
    else out.push(f);
  }
  return out;
}

/** One input: `-` or a local file as {@link resolveInputs}, or an `hf://` URI that must name exactly one file. */
export async function resolveInput(flag: string, file: string, opts: { quiet?: boolean } = {}): Promise<string> {
  if (!isHubUri(file)) return file === "-" ? stdinAsFile() : file;
  const files = await hubInputFiles(file, opts.quiet ?? false);
  if (files.length !== 1) throw new UsageError(`${flag}: ${file} matches ${files.length} files; this command reads one`);
  return files[0]!;
}
