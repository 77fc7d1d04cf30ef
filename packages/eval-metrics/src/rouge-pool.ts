import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { workerExecArgv } from "@sfmed/schema/io";
import { kernelModule } from "./lcs-fast.js";
import { RougeError, scoreFromCounts, type RougeScore } from "./rouge-l.js";
import { checkPairs, emptySideError, epsilonOf, isCharMode, prepared, rougeLMany, type RougeBatchOptions, type RougePair } from "./rouge-many.js";
import { workerSource } from "./rouge-worker.js";

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

interface PoolTask {
  call: PoolCall;
  start: number;
  end: number;
}

/** The pool's mutable state, shared by the functions below. */
interface PoolState {
  size: number;
  unref: boolean;
  workers: PoolWorker[];
  calls: PoolCall[];
  closed: boolean;
}

interface PoolWorker {
  w: Worker;
  /** Chunks sent and not yet answered, oldest first (a worker answers in order). */
  tasks: PoolTask[];
}

/**
 * Chunks queued per worker: the next one already waits in the worker's inbox while it scores the current one,
 * so a worker never idles through the round trip to this thread.
 */
const DEPTH = 2;

/**
 * Default chunk: about four chunks per thread (so uneven pairs balance), between 250 and 2000 answer-length
 * pairs; long texts get proportionally fewer pairs per chunk (the floor is ~150k characters of work).
 */
export function defaultChunk(pairs: readonly RougePair[], threads: number): number {
  let chars = 0;
  for (let i = 0; i < pairs.length; i++) chars += pairs[i]!.candidate.length + pairs[i]!.reference.length;
  const perPair = Math.max(1, chars / Math.max(1, pairs.length));
  const floor = Math.max(1, Math.min(250, Math.floor(150_000 / perPair)));
  return Math.min(2000, Math.max(floor, Math.ceil(pairs.length / (threads * 4))));
}

export function defaultThreads(): number {
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

export function createPool(poolOptions: RougePoolOptions): Omit<RougePool, "threads"> & { grow(threads: number): number } {
  const st: PoolState = {
    size: Math.max(1, Math.floor(poolOptions.threads ?? defaultThreads())),
    unref: poolOptions.unref ?? false,
    workers: [],
    calls: [],
    closed: false,
  };
  const close = () => closePool(st);
  const signal = poolOptions.signal;
  if (signal) {
    if (signal.aborted) void close();
    else signal.addEventListener("abort", () => void close(), { once: true });
  }
  return {
    score: (pairs, options) => scoreOnPool(st, pairs, options),
    close,
    [Symbol.asyncDispose]: close,
    /** Raises the pool size to at least `threads` (workers still start on demand); returns the size. */
    grow: (threads: number) => (st.size = Math.max(st.size, threads)),
  };
}

async function scoreOnPool(st: PoolState, pairs: readonly RougePair[], options: RougePoolScoreOptions = {}): Promise<RougeScore[]> {
  checkPairs(pairs);
  if (st.closed) throw new RougeError("POOL_CLOSED", "the ROUGE-L pool is closed");
  options.signal?.throwIfAborted();
  const limit = Math.max(1, Math.min(st.size, Math.floor(options.threads ?? st.size)));
  const chunkSize = Math.max(1, options.chunkSize ?? defaultChunk(pairs, limit));
  // Below one chunk a round trip to a worker costs more than scoring here.
  if (pairs.length <= chunkSize) return rougeLMany(pairs, options);
  const pending: { start: number; end: number }[] = [];
  for (let s = 0; s < pairs.length; s += chunkSize) pending.push({ start: s, end: Math.min(pairs.length, s + chunkSize) });
  return new Promise<RougeScore[]>((resolve, reject) => {
    const call: PoolCall = {
      pairs,
      options,
      charMode: isCharMode(options),
      eps: epsilonOf(options),
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
      const onAbort = () => failCall(st, call, options.signal!.reason);
      options.signal.addEventListener("abort", onAbort, { once: true });
      const detach = () => options.signal!.removeEventListener("abort", onAbort);
      call.resolve = (r) => (detach(), resolve(r));
      call.reject = (e) => (detach(), reject(e));
    }
    st.calls.push(call);
    dispatch(st);
  });
}

function failCall(st: PoolState, call: PoolCall, e: unknown): void {
  if (call.settled) return;
  call.settled = true;
  call.pending.length = 0;
  const k = st.calls.indexOf(call);
  if (k >= 0) st.calls.splice(k, 1);
  call.reject(e);
}

function spawnWorker(st: PoolState): PoolWorker {
  // Workers compile nothing: they get the module compiled here (and a clean execArgv, see workerExecArgv).
  const pw: PoolWorker = { w: new Worker(workerSource(), { eval: true, execArgv: workerExecArgv(), workerData: { module: kernelModule() } }), tasks: [] };
  if (st.unref) pw.w.unref();
  pw.w.on("message", (m: { lcs: Int32Array; lengths?: Int32Array }) => {
    const t = pw.tasks.shift()!;
    if (st.unref && pw.tasks.length === 0) pw.w.unref();
    finishChunk(st, t.call, t.start, t.end, m);
    dispatch(st);
  });
  const lost = (e: unknown) => {
    const k = st.workers.indexOf(pw);
    if (k >= 0) st.workers.splice(k, 1);
    for (const t of pw.tasks.splice(0)) {
      t.call.inFlight--;
      failCall(st, t.call, e);
    }
    dispatch(st);
  };
  pw.w.on("error", lost);
  pw.w.on("exit", (code) => lost(new RougeError("POOL_CLOSED", `ROUGE-L worker exited with code ${code}`)));
  st.workers.push(pw);
  return pw;
}

function finishChunk(st: PoolState, call: PoolCall, start: number, end: number, m: { lcs: Int32Array; lengths?: Int32Array }): void {
  call.inFlight--;
  if (call.settled) return;
  const { lengths, results } = call;
  if (m.lengths) {
    lengths.set(m.lengths, 2 * start);
    const empty = call.options.empty === "throw" ? emptySideError(m.lengths, end - start) : undefined;
    if (empty) {
      failCall(st, call, empty);
      return;
    }
  }
  for (let i = start; i < end; i++) results[i] = scoreFromCounts(m.lcs[i - start]!, lengths[2 * i]!, lengths[2 * i + 1]!, call.eps);
  call.done += end - start;
  call.options.onProgress?.(call.done, call.pairs.length);
  if (call.done === call.pairs.length) {
    call.settled = true;
    st.calls.splice(st.calls.indexOf(call), 1);
    call.resolve(results);
  }
}

function sendChunk(st: PoolState, pw: PoolWorker, call: PoolCall, start: number, end: number): void {
  const { pairs } = call;
  if (call.charMode) {
    // The chunk's texts as one array in one message, tokenized in the worker. (Measured: joining them into one
    // string with an offset table cost 40% more CPU in all, the join and the sliced reads in the worker.)
    const texts: string[] = [];
    for (let i = start; i < end; i++) texts.push(pairs[i]!.candidate, pairs[i]!.reference);
    pw.w.postMessage({ texts });
  } else {
    const { data, offsets, wasm } = symbolChunk(call, start, end);
    pw.w.postMessage({ data, offsets, wasm }, [data.buffer, offsets.buffer]);
  }
  pw.tasks.push({ call, start, end });
  call.inFlight++;
  // A busy worker keeps the process alive even in an unref'd pool: the caller is awaiting its answer.
  if (st.unref) pw.w.ref();
}

/**
 * Tokenizing stays in this thread (jieba and custom tokenizers are not transferable); only integer symbols cross,
 * sides back to back with an offset table. Records each side's length in `call.lengths`.
 */
function symbolChunk(call: PoolCall, start: number, end: number): { data: Int32Array<ArrayBuffer>; offsets: Int32Array<ArrayBuffer>; wasm: boolean } {
  const sides: ArrayLike<number>[] = [];
  let total = 0;
  let wasm = true;
  for (let i = start; i < end; i++) {
    const [c, r] = prepared(call.pairs[i]!, call.options);
    call.lengths[2 * i] = c.length;
    call.lengths[2 * i + 1] = r.length;
    sides.push(c, r);
    total += c.length + r.length;
    if (c.length + r.length > 0x110000) wasm = false; // interned ids stay below the pair's length
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
  return { data, offsets, wasm };
}

/** The least busy worker with fewer than `depth` chunks that `call` may use (at most `limit` distinct ones). */
function pickWorker(st: PoolState, call: PoolCall, depth: number): PoolWorker | undefined {
  const mine = st.workers.filter((x) => x.tasks.some((t) => t.call === call));
  let best: PoolWorker | undefined;
  for (const x of mine.length >= call.limit ? mine : st.workers) if (x.tasks.length < depth && (!best || x.tasks.length < best.tasks.length)) best = x;
  if (!best && mine.length < call.limit && st.workers.length < st.size) best = spawnWorker(st);
  return best;
}

/** Idle workers first (one chunk each, spawning up to the pool size), then a second chunk into each inbox. */
function dispatch(st: PoolState): void {
  if (st.closed) return;
  for (let depth = 1; depth <= DEPTH; depth++) {
    for (let sent = true; sent; ) {
      sent = false;
      for (const call of st.calls) {
        if (call.pending.length === 0) continue;
        const pw = pickWorker(st, call, depth);
        if (!pw) continue;
        const chunk = call.pending.shift()!;
        try {
          sendChunk(st, pw, call, chunk.start, chunk.end);
        } catch (e) {
          failCall(st, call, e);
        }
        sent = true;
        break;
      }
    }
  }
}

async function closePool(st: PoolState): Promise<void> {
  if (st.closed) return;
  st.closed = true;
  for (const c of [...st.calls]) failCall(st, c, new RougeError("POOL_CLOSED", "the ROUGE-L pool was closed before this call finished"));
  const all = st.workers.splice(0);
  await Promise.all(all.map((pw) => pw.w.terminate()));
}
