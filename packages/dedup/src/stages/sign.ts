// Read/sign stage: stream the input through the signature pool into the document columns.
import type { DedupProgress, FeedSink } from "../dedup-options.js";
import { DedupError, throwIfAborted } from "../errors.js";
import { readIndex } from "../index-store.js";
import type { SignaturePool } from "../signature-pool.js";
import type { DocCollector } from "./doc-table.js";
import type { DedupParams } from "./params.js";

interface StageHooks {
  onProgress?: ((p: DedupProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Load the documents of an earlier run's index (`against`); its parameters must match this run's. */
export async function loadAgainst(dir: string, p: DedupParams, docs: DocCollector): Promise<void> {
  const { numPerm, seed, ngram, bands, rows, normalization, hashScheme } = p;
  const idx = await readIndex(dir, {
    hashScheme,
    normalization,
    numPerm,
    seed,
    ngram,
    bands,
    rows,
    needShingles: p.verify === "exact",
    needSignatures: p.verify === "estimate",
  });
  docs.addIndex(idx);
}

/**
 * Run `feed` (which streams records into the sink, keeping batch order whatever thread finishes first), then close
 * the pool: its workers and their heaps are done with before the band pass allocates.
 */
export async function signInputs(feed: (sink: FeedSink) => Promise<void>, docs: DocCollector, pool: SignaturePool, p: DedupParams, hooks: StageHooks): Promise<void> {
  const { onProgress, signal } = hooks;
  await feed({
    pool,
    threads: p.threads,
    batchSize: p.batchSize,
    needIds: p.needIds,
    needLengths: p.needLengths,
    addRecord: docs.addRecord,
    addBatch: docs.addBatch,
    progress: (done) => {
      throwIfAborted(signal);
      onProgress?.({ phase: "signatures", done });
    },
  });
  await pool.close();
  if (docs.batched !== docs.count) throw new DedupError(`internal: ${docs.count} records but ${docs.batched} signatures`, { code: "INTERNAL" });
  throwIfAborted(signal);
  onProgress?.({ phase: "signatures", done: docs.count, total: docs.count });
}
