import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { workerExecArgv } from "@sfmed/schema";
import { lcsMultiWord, lcsOfSymbols, lcsOneWord, popcount32 } from "./lcs-bit-parallel.js";
import { RougeError, scoreFromCounts, symbolsForPair, type RougeLOptions, type RougeScore } from "./rouge-l.js";
import { charCodes, isPythonWhitespace } from "./tokenize.js";

/** One candidate/reference pair. */
export interface RougePair {
  candidate: string;
  reference: string;
}

export interface RougeBatchOptions extends RougeLOptions {
  /**
   * Worker threads for the LCS kernel. Tokenizing stays on the calling thread (jieba and custom tokenizers
   * are not transferable); only integer symbols cross. `1` computes synchronously in this thread.
   * @default min(availableParallelism(), 8)
   */
  threads?: number;
  /** Pairs per message to a worker. @default 2000 */
  chunkSize?: number;
  /** Called after each finished chunk with the number of pairs scored so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Callers from JavaScript or parsed JSON can pass anything: name the bad pair instead of failing deep inside. */
function checkPairs(pairs: unknown): asserts pairs is readonly RougePair[] {
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

/**
 * ROUGE-L of many pairs in this thread (same results as `rougeLBatch`).
 * @throws {RougeError} code `BAD_INPUT` naming the pair and field when `pairs` is not `{ candidate, reference }[]`
 */
export function rougeLMany(pairs: readonly RougePair[], options: RougeLOptions & { onProgress?: (done: number, total: number) => void } = {}): RougeScore[] {
  checkPairs(pairs);
  const out: RougeScore[] = [];
  const eps = options.compat === "rouge-chinese" ? 1e-8 : 0;
  for (let i = 0; i < pairs.length; i++) {
    const [c, r] = prepared(pairs[i]!, options);
    out.push(scoreFromCounts(c.length && r.length ? lcsOfSymbols(c, r) : 0, c.length, r.length, eps));
    if (options.onProgress && (i + 1) % 1000 === 0) options.onProgress(i + 1, pairs.length);
  }
  options.onProgress?.(pairs.length, pairs.length);
  return out;
}

function prepared(p: RougePair, options: RougeLOptions): [ArrayLike<number>, ArrayLike<number>] {
  const [c, r] = symbolsForPair(p.candidate, p.reference, options);
  const empty = options.empty ?? (options.compat === "rouge-chinese" ? "throw" : "zero");
  if (empty === "throw") {
    if (c.length === 0) throw new RougeError("EMPTY_CANDIDATE", "Hypothesis is empty.");
    if (r.length === 0) throw new RougeError("EMPTY_REFERENCE", "Reference is empty.");
  }
  return [c, r];
}

// The worker runs the very same kernel functions, shipped as source text (they reference nothing outside
// themselves), so the package needs no separate worker file in source or built form.
function workerSource(): string {
  return `"use strict";
const { parentPort } = require("node:worker_threads");
${popcount32.toString()}
${lcsOneWord.toString()}
${lcsMultiWord.toString()}
${lcsOfSymbols.toString()}
${isPythonWhitespace.toString()}
${charCodes.toString()}
parentPort.on("message", (m) => {
  if (m.texts) {
    // Character tokens: tokenize here too, so the calling thread only slices the input.
    const n = m.texts.length >> 1;
    const lcs = new Int32Array(n);
    const lengths = new Int32Array(2 * n);
    for (let k = 0; k < n; k++) {
      const c = ${charCodes.name}(m.texts[2 * k]);
      const r = ${charCodes.name}(m.texts[2 * k + 1]);
      lengths[2 * k] = c.length;
      lengths[2 * k + 1] = r.length;
      lcs[k] = c.length && r.length ? ${lcsOfSymbols.name}(c, r) : 0;
    }
    parentPort.postMessage({ lcs, lengths }, [lcs.buffer, lengths.buffer]);
    return;
  }
  const n = m.offsets.length - 1;
  const lcs = new Int32Array(n >> 1);
  for (let k = 0; k < n; k += 2) {
    const c = m.data.subarray(m.offsets[k], m.offsets[k + 1]);
    const r = m.data.subarray(m.offsets[k + 1], m.offsets[k + 2]);
    lcs[k >> 1] = c.length && r.length ? ${lcsOfSymbols.name}(c, r) : 0;
  }
  parentPort.postMessage({ lcs }, [lcs.buffer]);
});
`;
}

export interface RougePoolOptions {
  /** Worker threads in the pool (spawned on first use, then kept). @default min(availableParallelism(), 8) */
  threads?: number;
  /** Closing signal: the pool closes (rejecting unfinished calls) when it aborts. */
  signal?: AbortSignal;
  /**
   * Let the process exit while the pool is idle (idle workers are `unref`'d; a worker holds the process only
   * while it has work). @default false
   */
  unref?: boolean;
}

export interface RougePoolScoreOptions extends Omit<RougeBatchOptions, "threads"> {
  /** Use at most this many of the pool's workers for this call. @default all */
  threads?: number;
  /** Rejects this call (with the signal's reason) when it aborts; the pool stays open. */
  signal?: AbortSignal;
}

/** A persistent set of ROUGE-L worker threads, reused across calls. */
export interface RougePool extends AsyncDisposable {
  /** Same results as `rougeLMany`, in input order. */
  score(pairs: readonly RougePair[], options?: RougePoolScoreOptions): Promise<RougeScore[]>;
  /** Terminates the workers; unfinished calls reject with `RougeError` code `POOL_CLOSED`. Idempotent. */
  close(): Promise<void>;
  readonly threads: number;
}

interface PoolCall {
  pairs: readonly RougePair[];
  options: RougePoolScoreOptions;
  charMode: boolean;
  eps: number;
  lengths: Int32Array;
  results: RougeScore[];
  /** Chunk start offsets still to send, in order. */
  pending: { start: number; end: number }[];
  limit: number;
  inFlight: number;
  done: number;
  settled: boolean;
  resolve: (r: RougeScore[]) => void;
  reject: (e: unknown) => void;
}

interface PoolWorker {
  w: Worker;
  task?: { call: PoolCall; start: number; end: number };
}

/** Default chunk: about four chunks per thread (so uneven pairs balance), between 250 and 2000 pairs. */
function defaultChunk(n: number, threads: number): number {
  return Math.min(2000, Math.max(250, Math.ceil(n / (threads * 4))));
}

function defaultThreads(): number {
  return Math.min(availableParallelism(), 8);
}

/**
 * A pool of ROUGE-L worker threads that stays up between calls, so small batches (thousands of pairs) gain
 * from threads too: starting workers costs tens of milliseconds, more than scoring 5,000 answers. Close it
 * with `close()`, `await using`, or the `signal` option.
 */
export function createRougePool(poolOptions: RougePoolOptions = {}): RougePool {
  const { grow: _grow, ...pool } = createPool(poolOptions);
  return Object.defineProperty(pool, "threads", { get: () => _grow(0), enumerable: true }) as RougePool;
}

function createPool(poolOptions: RougePoolOptions): Omit<RougePool, "threads"> & { grow(threads: number): number } {
  let size = Math.max(1, Math.floor(poolOptions.threads ?? defaultThreads()));
  const unref = poolOptions.unref ?? false;
  const workers: PoolWorker[] = [];
  const calls: PoolCall[] = [];
  let closed = false;

  const fail = (call: PoolCall, e: unknown) => {
    if (call.settled) return;
    call.settled = true;
    call.pending.length = 0;
    const k = calls.indexOf(call);
    if (k >= 0) calls.splice(k, 1);
    call.reject(e);
  };

  const spawn = (): PoolWorker => {
    const pw: PoolWorker = { w: new Worker(workerSource(), { eval: true, execArgv: workerExecArgv() }) };
    if (unref) pw.w.unref();
    pw.w.on("message", (m: { lcs: Int32Array; lengths?: Int32Array }) => {
      const t = pw.task!;
      pw.task = undefined;
      if (unref) pw.w.unref();
      finish(t.call, t.start, t.end, m);
      dispatch();
    });
    const lost = (e: unknown) => {
      const k = workers.indexOf(pw);
      if (k >= 0) workers.splice(k, 1);
      if (pw.task) {
        pw.task.call.inFlight--;
        fail(pw.task.call, e);
        pw.task = undefined;
      }
      dispatch();
    };
    pw.w.on("error", lost);
    pw.w.on("exit", (code) => lost(new RougeError("POOL_CLOSED", `ROUGE-L worker exited with code ${code}`)));
    workers.push(pw);
    return pw;
  };

  const finish = (call: PoolCall, start: number, end: number, m: { lcs: Int32Array; lengths?: Int32Array }) => {
    call.inFlight--;
    if (call.settled) return;
    const { lengths, results } = call;
    if (m.lengths) {
      lengths.set(m.lengths, 2 * start);
      if (call.options.empty === "throw")
        for (let i = start; i < end; i++) {
          if (lengths[2 * i] === 0) return fail(call, new RougeError("EMPTY_CANDIDATE", "Hypothesis is empty."));
          if (lengths[2 * i + 1] === 0) return fail(call, new RougeError("EMPTY_REFERENCE", "Reference is empty."));
        }
    }
    for (let i = start; i < end; i++) results[i] = scoreFromCounts(m.lcs[i - start]!, lengths[2 * i]!, lengths[2 * i + 1]!, call.eps);
    call.done += end - start;
    call.options.onProgress?.(call.done, call.pairs.length);
    if (call.done === call.pairs.length) {
      call.settled = true;
      calls.splice(calls.indexOf(call), 1);
      call.resolve(results);
    }
  };

  const send = (pw: PoolWorker, call: PoolCall, start: number, end: number) => {
    const { pairs } = call;
    if (call.charMode) {
      const texts: string[] = [];
      for (let i = start; i < end; i++) texts.push(pairs[i]!.candidate, pairs[i]!.reference);
      pw.w.postMessage({ texts });
    } else {
      // Tokenizing stays here (jieba and custom tokenizers are not transferable); only integer symbols cross.
      const sides: ArrayLike<number>[] = [];
      let total = 0;
      for (let i = start; i < end; i++) {
        const [c, r] = prepared(pairs[i]!, call.options);
        call.lengths[2 * i] = c.length;
        call.lengths[2 * i + 1] = r.length;
        sides.push(c, r);
        total += c.length + r.length;
      }
      const data = new Int32Array(total);
      const offsets = new Int32Array(sides.length + 1);
      let o = 0;
      sides.forEach((s, k) => {
        offsets[k] = o;
        data.set(s, o);
        o += s.length;
      });
      offsets[sides.length] = o;
      pw.w.postMessage({ data, offsets }, [data.buffer, offsets.buffer]);
    }
    pw.task = { call, start, end };
    call.inFlight++;
    // A busy worker keeps the process alive even in an unref'd pool: the caller is awaiting its answer.
    if (unref) pw.w.ref();
  };

  const dispatch = () => {
    if (closed) return;
    for (;;) {
      const call = calls.find((c) => c.pending.length > 0 && c.inFlight < c.limit);
      if (!call) return;
      let pw = workers.find((x) => !x.task);
      if (!pw) {
        if (workers.length >= size) return;
        pw = spawn();
      }
      const chunk = call.pending.shift()!;
      try {
        send(pw, call, chunk.start, chunk.end);
      } catch (e) {
        fail(call, e);
      }
    }
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    for (const c of [...calls]) fail(c, new RougeError("POOL_CLOSED", "the ROUGE-L pool was closed before this call finished"));
    const all = workers.splice(0);
    await Promise.all(all.map((pw) => pw.w.terminate()));
  };

  const signal = poolOptions.signal;
  if (signal) {
    if (signal.aborted) void close();
    else signal.addEventListener("abort", () => void close(), { once: true });
  }

  const score = async (pairs: readonly RougePair[], options: RougePoolScoreOptions = {}): Promise<RougeScore[]> => {
    checkPairs(pairs);
    if (closed) throw new RougeError("POOL_CLOSED", "the ROUGE-L pool is closed");
    options.signal?.throwIfAborted();
    const limit = Math.max(1, Math.min(size, Math.floor(options.threads ?? size)));
    const chunkSize = Math.max(1, options.chunkSize ?? defaultChunk(pairs.length, limit));
    // Below one chunk a round trip to a worker costs more than scoring here.
    if (pairs.length <= chunkSize) return rougeLMany(pairs, options);
    const pending: { start: number; end: number }[] = [];
    for (let s = 0; s < pairs.length; s += chunkSize) pending.push({ start: s, end: Math.min(pairs.length, s + chunkSize) });
    return new Promise<RougeScore[]>((resolve, reject) => {
      const call: PoolCall = {
        pairs,
        options,
        charMode: (options.tokenizer ?? "char") === "char" && (options.compat ?? "rouge-score") === "rouge-score",
        eps: options.compat === "rouge-chinese" ? 1e-8 : 0,
        lengths: new Int32Array(pairs.length * 2),
        results: new Array<RougeScore>(pairs.length),
        pending,
        limit,
        inFlight: 0,
        done: 0,
        settled: false,
        resolve,
        reject,
      };
      if (options.signal) {
        const onAbort = () => fail(call, options.signal!.reason);
        options.signal.addEventListener("abort", onAbort, { once: true });
        const detach = () => options.signal!.removeEventListener("abort", onAbort);
        call.resolve = (r) => (detach(), resolve(r));
        call.reject = (e) => (detach(), reject(e));
      }
      calls.push(call);
      dispatch();
    });
  };

  return {
    score,
    close,
    [Symbol.asyncDispose]: close,
    /** Raises the pool size to at least `threads` (workers still start on demand); returns the size. */
    grow: (threads: number) => (size = Math.max(size, threads)),
  };
}

let shared: ReturnType<typeof createPool> | undefined;

/**
 * ROUGE-L of many pairs, the LCS work spread over worker threads. Results are in input order and identical
 * to `rougeL` on each pair.
 *
 * Uses a process-wide pool, created on the first threaded call and kept for later ones. Its idle workers are
 * `unref`'d, so it never keeps the process alive and needs no closing; `createRougePool` gives a pool you own.
 * The shared pool grows to the largest `threads` asked for.
 * @throws RougeError for an empty side under `empty: "throw"`.
 */
export async function rougeLBatch(pairs: readonly RougePair[], options: RougeBatchOptions = {}): Promise<RougeScore[]> {
  checkPairs(pairs);
  const threads = Math.max(1, Math.floor(options.threads ?? defaultThreads()));
  const chunkSize = Math.max(1, options.chunkSize ?? defaultChunk(pairs.length, threads));
  if (threads === 1 || pairs.length <= chunkSize) return rougeLMany(pairs, options);
  shared ??= createPool({ threads, unref: true });
  shared.grow(threads);
  return shared.score(pairs, { ...options, threads, chunkSize });
}
