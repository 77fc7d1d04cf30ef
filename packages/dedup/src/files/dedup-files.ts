import { AtomicFile } from "@sfmed/schema/io";
import { dedup } from "../dedup.js";
import { dedupJsonl, sourceOfFile, splitJsonl, type DedupJsonlOptions } from "../dedup-jsonl.js";
import type { DedupResult } from "../dedup-options.js";
import type { DedupReport } from "../dedup-report.js";
import { DedupError, throwIfAborted } from "../errors.js";
import { textOf } from "../text-view.js";
import { allUtf8Jsonl, parseLine, readInputs } from "./read-inputs.js";

export interface DedupFilesOptions extends Omit<DedupJsonlOptions, "chunkBytes"> {
  /** Kept records as JSONL, in input order: JSONL lines unchanged, records of other formats as JSON. */
  output: string;
  /** Removed records, the same way. */
  removed?: string | undefined;
  /** One line per record in a cluster of two or more: `{"id","cluster","kept"}`. */
  clusters?: string | undefined;
  /** The report as JSON, with `inputs` (records per file) first. */
  report?: string | undefined;
  /**
   * Called when a file that looked like UTF-8 holds other bytes further on (`INVALID_UTF8`: the check reads a
   * file's first MiBs only); the inputs are then read again with encoding detection (GB18030 text, for one).
   */
  onFallback?: (error: DedupError) => void;
}

/** Records per input file, in order. */
export type FileCounts = Array<{ file: string; records: number }>;

export interface DedupFilesResult extends DedupResult {
  inputs: FileCounts;
  /** How the inputs were read: by the signature workers (UTF-8 JSONL), or parsed on the calling thread. */
  reader: "workers" | "parsed";
}

/** A record's id for the clusters file: the id field (string or number), else `file:line`. */
const idOf = (idField: string) => (record: Record<string, unknown>, file: string, line: number) => {
  const v = record[idField];
  return typeof v === "string" || typeof v === "number" ? String(v) : `${file}:${line}`;
};

const clusterLine = (id: string, result: DedupResult, i: number) => JSON.stringify({ id, cluster: result.cluster[i], kept: result.keep[i] === 1 }) + "\n";

/**
 * `dedup` over files: UTF-8 JSONL (the usual case) is read by the signature workers and its kept lines are copied
 * byte for byte; JSON, CSV, TSV, Parquet, gzip and GB18030 text are parsed on this thread through the
 * @sfmed/schema readers. Every output is written atomically (temp file, renamed at the end); on an error none is
 * left behind. Same outputs whichever way the inputs were read (property-tested).
 *
 * @throws DedupError with a `code` (see `DedupErrorCode`), naming file, line and field where known; schema errors
 *   for unreadable inputs.
 */
export async function dedupFiles(inputs: readonly string[], options: DedupFilesOptions): Promise<DedupFilesResult> {
  const { output, removed, clusters, report, onFallback, ...rest } = options;
  const sourceField = rest.sourceField ?? "source";
  const ids = idOf(rest.idField ?? "id");
  let result: DedupResult | undefined;
  if (await allUtf8Jsonl(inputs)) {
    try {
      result = await dedupJsonl(inputs, rest);
    } catch (err) {
      if (!(err instanceof DedupError && err.code === "INVALID_UTF8")) throw err;
      onFallback?.(err);
    }
  }
  let out: DedupFilesResult;
  if (result) {
    const res = result;
    const clustersFile = clusters !== undefined ? new AtomicFile(clusters) : undefined;
    try {
      const counts = await splitJsonl(inputs, res, {
        kept: output,
        ...(removed !== undefined ? { removed } : {}),
        ...(clustersFile ? { onClustered: (i: number, text: string, file: string, line: number) => clustersFile.write(clusterLine(ids(parseLine(text, file, line), file, line), res, i)) } : {}),
        ...writeHooks(options, res.count),
      });
      await clustersFile?.commit();
      out = { ...res, inputs: counts, reader: "workers" };
    } catch (err) {
      await clustersFile?.abort();
      throw err;
    }
  } else {
    const parsed = await dedup(readInputs(inputs), {
      ...rest,
      text: (r) => textOf(r.record, { field: rest.field, file: r.file, line: r.line }),
      source: (r) => {
        const v = r.record[sourceField];
        return typeof v === "string" ? v : sourceOfFile(r.file);
      },
      id: (r) => ids(r.record, r.file, r.line),
    });
    out = { ...parsed, inputs: await writeParsed(inputs, parsed, options, ids), reader: "parsed" };
  }
  if (report !== undefined) await writeReport(report, out.inputs, out.report);
  return out;
}

function writeHooks(options: DedupFilesOptions, total: number) {
  const { onProgress, signal } = options;
  return {
    ...(onProgress ? { onProgress: (done: number) => onProgress({ phase: "write", done, total }) } : {}),
    ...(signal ? { signal } : {}),
  };
}

/** The outputs of parsed inputs, from a second read of them. */
async function writeParsed(inputs: readonly string[], result: DedupResult, options: DedupFilesOptions, ids: ReturnType<typeof idOf>): Promise<FileCounts> {
  const kept = new AtomicFile(options.output);
  const removed = options.removed !== undefined ? new AtomicFile(options.removed) : undefined;
  const clusters = options.clusters !== undefined ? new AtomicFile(options.clusters) : undefined;
  const { onProgress, signal } = writeHooks(options, result.count);
  const perFile = new Map<string, number>();
  try {
    let i = 0;
    for await (const row of readInputs(inputs, { lazy: true })) {
      if (i >= result.count) throw new DedupError("an input changed while deduplicating", { code: "INPUT_CHANGED", file: row.file, line: row.line });
      perFile.set(row.file, (perFile.get(row.file) ?? 0) + 1);
      const keep = result.keep[i] === 1;
      if (keep) await kept.write(row.raw + "\n");
      else await removed?.write(row.raw + "\n");
      if (clusters && result.cluster[i]! >= 0) await clusters.write(clusterLine(ids(row.record, row.file, row.line), result, i));
      i++;
      if (i % 4096 === 0) {
        throwIfAborted(signal);
        onProgress?.(i);
      }
    }
    if (i !== result.count) throw new DedupError("an input changed while deduplicating", { code: "INPUT_CHANGED" });
    onProgress?.(i);
    await kept.commit();
    await removed?.commit();
    await clusters?.commit();
  } catch (err) {
    await Promise.all([kept.abort(), removed?.abort(), clusters?.abort()]);
    throw err;
  }
  return [...perFile].map(([file, records]) => ({ file, records }));
}

async function writeReport(file: string, inputs: FileCounts, report: DedupReport): Promise<void> {
  const w = new AtomicFile(file);
  try {
    await w.write(JSON.stringify({ inputs, ...report }, null, 2) + "\n");
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
}
