import { lcsOfSymbols } from "./lcs-bit-parallel.js";
import { lcsDriver, lcsOfCodes } from "./lcs-fast.js";
import { RougeError, scoreFromCounts, symbolsForPair, type RougeLOptions, type RougeScore } from "./rouge-l.js";

/** One candidate/reference pair. */
export interface RougePair {
  candidate: string;
  reference: string;
}

export interface RougeBatchOptions extends RougeLOptions {
  /**
   * Threads in all, the calling thread included (it scores a share too; `threads − 1` workers take the rest).
   * Character tokens are read in the workers; other tokenizers run on the calling thread (jieba and custom
   * tokenizers are not transferable) and only integer symbols cross. `1` computes synchronously in this thread.
   * @default min(availableParallelism(), 8)
   */
  threads?: number;
  /**
   * Pairs per message to a worker. @default guided: a share of what is left, from 2000 answer-length pairs
   * down to about a millisecond of work, so all threads finish together
   */
  chunkSize?: number;
  /** Called after each finished chunk with the number of pairs scored so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Callers from JavaScript or parsed JSON can pass anything: name the bad pair instead of failing deep inside. */
export function checkPairs(pairs: unknown): asserts pairs is readonly RougePair[] {
  const shape = "expected an array of { candidate: string, reference: string }";
  if (!Array.isArray(pairs)) throw new RougeError("BAD_INPUT", `pairs: ${shape}, got ${pairs === null ? "null" : typeof pairs}`);
  for (let i = 0; i < pairs.length; i++) {
    const p: unknown = pairs[i];
    if (p === null || typeof p !== "object") throw new RougeError("BAD_INPUT", `pairs[${i}]: ${shape}, got ${p === null ? "null" : typeof p}`, { index: i });
    for (const field of ["candidate", "reference"] as const) {
      const v = (p as Record<string, unknown>)[field];
      if (typeof v !== "string") throw new RougeError("BAD_INPUT", `pairs[${i}].${field}: expected a string, got ${v === null ? "null" : typeof v}`, { index: i, field });
    }
  }
}

/** Character tokens under the rouge-score convention: workers can tokenize these themselves. */
export const isCharMode = (o: RougeLOptions) => (o.tokenizer ?? "char") === "char" && (o.compat ?? "rouge-score") === "rouge-score";
export const epsilonOf = (o: RougeLOptions) => (o.compat === "rouge-chinese" ? 1e-8 : 0);
const throwsOnEmpty = (o: RougeLOptions) => (o.empty ?? (o.compat === "rouge-chinese" ? "throw" : "zero")) === "throw";

/** The first empty side among token counts `lengths` (2 per pair, candidate first), as the error to throw. */
export function emptySideError(lengths: Int32Array, pairs: number): RougeError | undefined {
  for (let k = 0; k < pairs; k++) {
    if (lengths[2 * k] === 0) return new RougeError("EMPTY_CANDIDATE", "Hypothesis is empty.");
    if (lengths[2 * k + 1] === 0) return new RougeError("EMPTY_REFERENCE", "Reference is empty.");
  }
  return undefined;
}

export function prepared(p: RougePair, options: RougeLOptions): [ArrayLike<number>, ArrayLike<number>] {
  const [c, r] = symbolsForPair(p.candidate, p.reference, options);
  if (throwsOnEmpty(options)) {
    if (c.length === 0) throw new RougeError("EMPTY_CANDIDATE", "Hypothesis is empty.");
    if (r.length === 0) throw new RougeError("EMPTY_REFERENCE", "Reference is empty.");
  }
  return [c, r];
}

const BLOCK = 1000;

/** LCS and token counts of pairs [start, end) into lcs[0…], lengths[0…] (Wasm batches where available). */
function scoreBlock(pairs: readonly RougePair[], start: number, end: number, options: RougeLOptions, lcs: Int32Array, lengths: Int32Array) {
  const n = end - start;
  const d = lcsDriver();
  if (d && isCharMode(options)) {
    d.chars(n, (i) => (i & 1 ? pairs[start + (i >> 1)]!.reference : pairs[start + (i >> 1)]!.candidate), lcs, lengths);
    const empty = throwsOnEmpty(options) ? emptySideError(lengths, n) : undefined;
    if (empty) throw empty;
    return;
  }
  const sides: ArrayLike<number>[] = [];
  let wasmOk = d !== null;
  for (let k = 0; k < n; k++) {
    const [c, r] = prepared(pairs[start + k]!, options);
    sides.push(c, r);
    lengths[2 * k] = c.length;
    lengths[2 * k + 1] = r.length;
    if (c.length + r.length > 0x110000) wasmOk = false; // interned ids stay below the pair's length
  }
  if (d && wasmOk) d.symbols(n, (i) => sides[i]!, lcs);
  else for (let k = 0; k < n; k++) lcs[k] = lengths[2 * k] && lengths[2 * k + 1] ? (d ? lcsOfCodes : lcsOfSymbols)(sides[2 * k]!, sides[2 * k + 1]!) : 0;
}

/**
 * ROUGE-L of many pairs in this thread (same results as `rougeLBatch`).
 * @throws {RougeError} code `BAD_INPUT` naming the pair and field when `pairs` is not `{ candidate, reference }[]`
 */
export function rougeLMany(pairs: readonly RougePair[], options: RougeLOptions & { onProgress?: (done: number, total: number) => void } = {}): RougeScore[] {
  checkPairs(pairs);
  const out = new Array<RougeScore>(pairs.length);
  for (let s = 0; s < pairs.length; s += BLOCK) {
    const e = Math.min(pairs.length, s + BLOCK);
    scoreRange(pairs, s, e, options, out);
    if (options.onProgress && e % 1000 === 0) options.onProgress(e, pairs.length);
  }
  options.onProgress?.(pairs.length, pairs.length);
  return out;
}

/** Scores of pairs [start, end) into out[start…end) in this thread (pairs already checked). */
export function scoreRange(pairs: readonly RougePair[], start: number, end: number, options: RougeLOptions, out: RougeScore[]): void {
  const eps = epsilonOf(options);
  const lcs = new Int32Array(Math.min(BLOCK, end - start));
  const lengths = new Int32Array(2 * lcs.length);
  for (let s = start; s < end; s += BLOCK) {
    const e = Math.min(end, s + BLOCK);
    scoreBlock(pairs, s, e, options, lcs, lengths);
    for (let i = s; i < e; i++) out[i] = scoreFromCounts(lcs[i - s]!, lengths[2 * (i - s)]!, lengths[2 * (i - s) + 1]!, eps);
  }
}
