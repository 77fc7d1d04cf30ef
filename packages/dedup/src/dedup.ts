import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { DedupOptions, DedupResult, FeedSink } from "./dedup-options.js";
import { DedupError, throwIfAborted } from "./errors.js";
import type { BatchResult } from "./signature-batch.js";
import { createSignaturePool } from "./signature-pool.js";
import { BandSweeper, emitPairs, perSourceEmitter, skipMask } from "./stages/band-sweep.js";
import { summarizeClusters } from "./stages/clusters.js";
import { DocCollector } from "./stages/doc-table.js";
import { chooseSurvivors, survivorMask, survivorOrder } from "./stages/keeper.js";
import { resolveParams } from "./stages/params.js";
import { buildReport, StageClock } from "./stages/report.js";
import { saveKeptIndex } from "./stages/save-index.js";
import { loadAgainst, signInputs } from "./stages/sign.js";
import { PairVerifier } from "./stages/verify.js";
import { textOf } from "./text-view.js";
import { UnionFind } from "./union-find.js";

export type { DedupOptions, DedupProgress, DedupResult, FeedSink, VerifyMode } from "./dedup-options.js";

function defaultSource(r: unknown): string | undefined {
  const s = (r as { source?: unknown } | null)?.source;
  return typeof s === "string" ? s : undefined;
}

function defaultId(r: unknown): string | undefined {
  const s = (r as { id?: unknown } | null)?.id;
  return typeof s === "string" ? s : typeof s === "number" ? String(s) : undefined;
}

/**
 * Near-duplicate removal with MinHash-LSH:
 * 1. stream the records, take each one's text, normalise and shingle it, and compute its MinHash signature and
 *    band keys (on worker threads); band keys, shingle sets or signatures spill to disk;
 * 2. per band, sort the keys and turn each bucket into candidate pairs (optionally per source first);
 * 3. verify candidates (exact Jaccard by default) and union the confirmed pairs;
 * 4. keep one record per cluster by the keep policy; report counts, the cluster-size histogram and giant
 *    clusters.
 * Deterministic for a given seed and input order, whatever the thread count.
 *
 * @throws DedupError for bad options, records without text (`NO_TEXT`), an incompatible `against` index, or an
 *   aborted `signal` (`ABORTED`).
 */
export async function dedup<R>(records: Iterable<R> | AsyncIterable<R>, options: DedupOptions<R> = {}): Promise<DedupResult> {
  const { text: textView, field, score: getScore } = options;
  const getSource = options.source ?? defaultSource;
  const getId = options.id ?? defaultId;
  return runDedup(options, Boolean(options.normalize), async (sink) => {
    const inFlight: Array<Promise<BatchResult>> = [];
    const maxInFlight = Math.max(1, 2 * sink.threads);
    let batch: string[] = [];
    const drainTo = async (limit: number) => {
      while (inFlight.length > limit) sink.addBatch(await inFlight.shift()!);
    };
    let i = 0;
    try {
      for await (const rec of records as AsyncIterable<R>) {
        const text = textView ? textView(rec, i) : textOf(rec, { field, line: i + 1 });
        if (typeof text !== "string") throw new DedupError("text view did not return a string", { code: "NO_TEXT", line: i + 1 });
        batch.push(text);
        sink.addRecord(getSource(rec, i), text.length, sink.needIds ? (getId(rec, i) ?? null) : null, getScore ? getScore(rec, i) : Number.NaN);
        i++;
        if (batch.length >= sink.batchSize) {
          inFlight.push(sink.pool.compute(batch));
          batch = [];
          await drainTo(maxInFlight - 1);
          sink.progress(i);
        }
      }
      if (batch.length) inFlight.push(sink.pool.compute(batch));
      await drainTo(0);
    } finally {
      // let the rest settle so no rejection goes unhandled
      await Promise.allSettled(inFlight);
    }
  });
}

/**
 * The pipeline behind `dedup`, `dedupJsonl` and `dedupFiles`: `feed` streams the input into the sink; the stages
 * (src/stages/) then run one after another over the collected documents.
 */
export async function runDedup(options: DedupOptions<never>, customNormalize: boolean, feed: (sink: FeedSink) => Promise<void>): Promise<DedupResult> {
  const clock = new StageClock();
  const p = resolveParams(options, customNormalize);
  const hooks = { onProgress: options.onProgress, signal: options.signal };
  throwIfAborted(hooks.signal);
  const work = await mkdtemp(path.join(options.workDir ?? tmpdir(), "sfmed-dedup-"));
  const { numPerm, seed, ngram, sketch, bands, rows, verify } = p;
  const pool = createSignaturePool({ numPerm, seed, ngram, sketch, bands, rows, keepShingles: verify === "exact", keepSignatures: verify === "estimate" }, p.threads, options.normalize, options.workers);
  let collector: DocCollector | undefined;
  try {
    // 1. Read/sign: an earlier run's index first, then the input → signatures → spill files.
    collector = new DocCollector(p, work, options.score !== undefined);
    if (options.against !== undefined) await loadAgainst(options.against, p, collector);
    clock.start();
    await signInputs(feed, collector, pool, p, hooks);
    const docs = collector.finish();
    clock.lap("signatures");

    // 2. Band pass + verify: candidate pairs per band, confirmed and merged; per source first when asked.
    const uf = new UnionFind(docs.N);
    const verifier = new PairVerifier(docs, p, uf, options.onPair);
    const sweeper = new BandSweeper(docs);
    const emit = (members: Int32Array, c: number) => emitPairs(members, c, verifier.tryPair);
    const better = survivorOrder(docs, p.keep);
    let alive1: Uint8Array | undefined;
    if (p.perSource) {
      sweeper.sweep("per-source", docs.empty, perSourceEmitter(docs.sourceOf, emit), hooks);
      alive1 = survivorMask(uf, chooseSurvivors(uf, better));
      clock.lap("perSource");
    }
    sweeper.sweep("global", alive1 ? skipMask(docs.empty, alive1) : docs.empty, emit, hooks);
    clock.lap("global");

    // 3. Cluster + select, in the band pass's buffers (done with now), so the peak stays that of the pass.
    throwIfAborted(hooks.signal);
    const best = chooseSurvivors(uf, better, alive1, sweeper.reuse(0));
    const summary = summarizeClusters(docs, uf, best, alive1, p.giantLimit, { compSize: sweeper.reuse(1), firstPos: sweeper.reuse(2) });
    const below = verify === "exact" ? verifier.countBelowThreshold(summary.keep, best) : null;
    hooks.onProgress?.({ phase: "clusters", done: docs.count, total: docs.count });
    clock.lap("clusters");

    // 4. Optional index of the kept documents (and those of the index matched against).
    if (options.saveIndex !== undefined) {
      const saved = await saveKeptIndex(options.saveIndex, docs, summary.keep, p, (b) => sweeper.readKeys(b));
      hooks.onProgress?.({ phase: "index", done: saved, total: saved });
      clock.lap("index");
    }

    // 5. Report.
    const report = buildReport(p, pool.threads, docs, summary, verifier, below, clock.done());
    return { count: docs.count, keep: summary.keep, cluster: summary.cluster, report };
  } finally {
    await pool.close();
    collector?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** The kept records of a dedup result, in input order (re-read the same input to call this). */
export async function* filterKept<R>(records: Iterable<R> | AsyncIterable<R>, result: DedupResult): AsyncGenerator<R> {
  let i = 0;
  for await (const r of records as AsyncIterable<R>) {
    if (i >= result.count) throw new DedupError(`more records than the ${result.count} that were deduplicated`, { code: "INPUT_CHANGED", line: i + 1 });
    if (result.keep[i++]) yield r;
  }
  if (i !== result.count) throw new DedupError(`${i} records, but ${result.count} were deduplicated`, { code: "INPUT_CHANGED" });
}
