import path from "node:path";
import { AtomicFile } from "@sfmed/schema/io";
import { runDedup } from "./dedup.js";
import type { DedupOptions, DedupResult } from "./dedup-options.js";
import { DedupError, throwIfAborted } from "./errors.js";
import { isBatchError, isBlankLine, type JsonlBatchError, type JsonlBatchResult, type JsonlView } from "./jsonl-batch.js";
import { CHUNK_BYTES, lineChunks } from "./jsonl-chunks.js";

export interface DedupJsonlOptions extends Omit<DedupOptions<never>, "text" | "normalize" | "source" | "id" | "score" | "batchSize"> {
  /** Field holding a record's source; records without a string there take the file's name. @default "source" */
  sourceField?: string;
  /** Field holding a record's id (string or number); records without one are `file:line`. @default "id" */
  idField?: string;
  /** Bytes of JSONL per signature batch. @default 1 MiB */
  chunkBytes?: number;
}

export interface DedupJsonlResult extends DedupResult {
  /** Records read from each input file, in order. */
  inputs: Array<{ file: string; records: number }>;
}

/** The name a file's records get as source when they carry none: the file name less its data extension. */
export function sourceOfFile(file: string): string {
  return path.basename(file).replace(/\.(jsonl|ndjson|json|csv|tsv)(\.gz)?$/i, "");
}

/**
 * `dedup` over UTF-8 JSONL files (.gz ok), read by the signature workers themselves: the calling thread only cuts
 * the files into chunks of whole lines and hands the bytes over; each worker decodes, parses, takes the text view
 * and computes signatures, and returns them with each record's source (and id or length where needed). Gives the
 * same result as `dedup` over the parsed records with the same text, source and id views (property-tested).
 * Blank lines are skipped; line numbers count them.
 *
 * @throws DedupError naming file, line and field for invalid JSON, a non-object line, invalid UTF-8 or a record
 *   without text; and as `dedup` does for bad options.
 */
export async function dedupJsonl(files: readonly string[], options: DedupJsonlOptions = {}): Promise<DedupJsonlResult> {
  const sourceField = options.sourceField ?? "source";
  const idField = options.idField ?? "id";
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  const inputs: Array<{ file: string; records: number }> = [];
  const result = await runDedup(options, false, async (sink) => {
    const maxInFlight = Math.max(2, 2 * sink.threads);
    let done = 0;
    for (const file of files) {
      const view: JsonlView = { field: options.field, sourceField, defaultSource: sourceOfFile(file), idField, needIds: sink.needIds, needLengths: sink.needLengths };
      const input = { file, records: 0 };
      inputs.push(input);
      let baseLine = 0;
      const inFlight: Array<Promise<JsonlBatchResult | JsonlBatchError>> = [];
      const take = (r: JsonlBatchResult | JsonlBatchError) => {
        if (isBatchError(r)) throw new DedupError(r.message, { code: r.code, file, line: baseLine + r.line, field: r.field });
        const n = r.sourceOf.length;
        for (let i = 0; i < n; i++) {
          let id: string | null = null;
          if (r.ids) id = r.ids[i] ?? `${file}:${baseLine + r.idLines![i]!}`;
          sink.addRecord(r.sourceNames[r.sourceOf[i]!], r.lengths ? r.lengths[i]! : 0, id, Number.NaN);
        }
        sink.addBatch(r.batch);
        baseLine += r.lines;
        input.records += n;
        done += n;
      };
      try {
        for await (const chunk of lineChunks(file, chunkBytes)) {
          inFlight.push(sink.pool.computeJsonl(chunk, view));
          while (inFlight.length >= maxInFlight) take(await inFlight.shift()!);
          sink.progress(done);
        }
        while (inFlight.length) take(await inFlight.shift()!);
      } finally {
        // let the rest settle so no rejection goes unhandled
        await Promise.allSettled(inFlight);
      }
    }
  });
  return { ...result, inputs };
}

/** Where {@link splitJsonl} writes; every output is written to a temp file and renamed into place at the end. */
export interface SplitJsonlOptions {
  /** Kept records. */
  kept?: string;
  /** Removed records. */
  removed?: string;
  /**
   * Called for every record in a cluster of two or more (`result.cluster[index] >= 0`), with its line's text, e.g.
   * to write a clusters file.
   */
  onClustered?: (index: number, text: string, file: string, line: number) => void | Promise<void>;
  /** Records written so far, after each chunk of input. */
  onProgress?: (done: number) => void;
  /** Stops between chunks with a `DedupError` (`ABORTED`); no output is left behind. */
  signal?: AbortSignal;
}

const LF = Uint8Array.of(10);

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** True when a line's bytes hold a character other than white space (ASCII fast check, else decode). */
function hasContent(bytes: Uint8Array, start: number, end: number): boolean {
  let high = false;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) high = true;
    else if (b !== 32 && (b < 9 || b > 13)) return true;
  }
  return high && !isBlankLine(decoder.decode(bytes.subarray(start, end)));
}

/**
 * Write the kept (and removed) records of a `dedupJsonl` result by copying each record's line bytes from the
 * same files, unchanged and in input order (CRLF line ends become LF, a BOM is dropped), without parsing them.
 *
 * @returns the number of records read per file.
 * @throws DedupError (`INPUT_CHANGED`) when the files hold another number of records than the result.
 */
export async function splitJsonl(files: readonly string[], result: DedupResult, options: SplitJsonlOptions): Promise<Array<{ file: string; records: number }>> {
  const kept = options.kept !== undefined ? new AtomicFile(options.kept) : undefined;
  const removed = options.removed !== undefined ? new AtomicFile(options.removed) : undefined;
  const { onClustered, onProgress, signal } = options;
  const counts: Array<{ file: string; records: number }> = [];
  let index = 0;
  try {
    for (const file of files) {
      const entry = { file, records: 0 };
      counts.push(entry);
      let line = 0;
      for await (const chunk of lineChunks(file)) {
        throwIfAborted(signal);
        let start = 0;
        while (start < chunk.length) {
          let nl = chunk.indexOf(10, start);
          if (nl < 0) nl = chunk.length;
          line++;
          const end = nl > start && chunk[nl - 1] === 13 ? nl - 1 : nl;
          if (hasContent(chunk, start, end)) {
            if (index >= result.count) throw new DedupError("an input changed while deduplicating", { code: "INPUT_CHANGED", file, line });
            const out = result.keep[index] ? kept : removed;
            if (out) {
              await out.write(chunk.subarray(start, end));
              await out.write(LF);
            }
            if (onClustered && result.cluster[index]! >= 0) await onClustered(index, decoder.decode(chunk.subarray(start, end)), file, line);
            index++;
            entry.records++;
          }
          start = nl + 1;
        }
        onProgress?.(index);
      }
    }
    if (index !== result.count) throw new DedupError(`${index} records, but ${result.count} were deduplicated: an input changed`, { code: "INPUT_CHANGED" });
    await kept?.commit();
    await removed?.commit();
  } catch (err) {
    await Promise.all([kept?.abort(), removed?.abort()]);
    throw err;
  }
  return counts;
}
