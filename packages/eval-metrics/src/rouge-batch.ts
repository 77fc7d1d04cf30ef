import { createPool, defaultChunk, defaultThreads } from "./rouge-pool.js";
import { checkPairs, rougeLMany, type RougeBatchOptions, type RougePair } from "./rouge-many.js";
import type { RougeScore } from "./rouge-l.js";

export { rougeLMany } from "./rouge-many.js";
export type { RougeBatchOptions, RougePair } from "./rouge-many.js";
export { createRougePool } from "./rouge-pool.js";
export type { RougePool, RougePoolOptions, RougePoolScoreOptions } from "./rouge-pool.js";

let shared: ReturnType<typeof createPool> | undefined;

/**
 * ROUGE-L of many pairs, the LCS work spread over `threads` threads: this one, which scores slices of about a
 * millisecond between worker replies (so the event loop keeps turning), and `threads − 1` workers. Results are
 * in input order and identical to `rougeL` on each pair.
 *
 * Uses a process-wide pool, created on the first threaded call and kept for later ones. Its idle workers are
 * `unref`'d, so it never keeps the process alive and needs no closing; `createRougePool` gives a pool you own.
 * The shared pool grows to the largest `threads − 1` asked for.
 * @throws RougeError for an empty side under `empty: "throw"`.
 */
export async function rougeLBatch(pairs: readonly RougePair[], options: RougeBatchOptions = {}): Promise<RougeScore[]> {
  checkPairs(pairs);
  const threads = Math.max(1, Math.floor(options.threads ?? defaultThreads()));
  const chunkSize = Math.max(1, options.chunkSize ?? defaultChunk(pairs, threads));
  if (threads === 1 || pairs.length <= chunkSize) return rougeLMany(pairs, options);
  // the calling thread is one of the threads: it scores its share without copying it to a worker
  const workers = threads - 1;
  shared ??= createPool({ threads: workers, unref: true });
  shared.grow(workers);
  return shared.score(pairs, { ...options, threads: workers, callerRuns: true });
}
