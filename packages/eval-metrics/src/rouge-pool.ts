import { availableParallelism } from "node:os";
import { createWorkerPool, newWorker, type WorkerPool } from "@sfmed/schema/io";
import { kernelModule } from "./lcs-fast.js";
import { RougeError, scoreFromCounts, type RougeScore } from "./rouge-l.js";
import { checkPairs, emptySideError, epsilonOf, isCharMode, prepared, rougeLMany, scoreRange, type RougeBatchOptions, type RougePair } from "./rouge-many.js";
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
  /**
   * Score pairs on the calling thread too, a slice of about a millisecond at a time between worker replies (the
   * event loop runs in between). Its share needs no copy to a worker, so on a machine with as many cores as
   * threads in use this is the faster split. @default false
   */
  callerRuns?: boolean;
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
  /** Pairs [next, tail) are not handed out yet: workers take chunks from the front, the calling thread from the back. */
  next: number;
  tail: number;
  /** The largest chunk for a worker; every chunk has this size when the caller fixed it. */
  chunkSize: number;
  fixedChunks: boolean;
  /** The smallest guided chunk, and the calling thread's slice (both about a millisecond of work). */
  slice: number;
  /** Threads sharing the call: the workers it may use, plus the calling thread when it scores too. */
  sharers: number;
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

type ChunkRequest = { texts: string[] } | { data: Int32Array; offsets: Int32Array; wasm: boolean };
type ChunkReply = { lcs: Int32Array; lengths?: Int32Array };

/** The pool's mutable state, shared by the functions below. */
interface PoolState {
  size: number;
  unref: boolean;
  /** The threads, started on first use and grown one by one up to `size`. */
  pool: WorkerPool<ChunkRequest, ChunkReply> | undefined;
  /** Per worker: chunks sent and not yet answered, oldest first. */
  tasks: PoolTask[][];
  calls: PoolCall[];
  closed: boolean;
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
    pool: undefined,
    tasks: [],
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
  const callerRuns = options.callerRuns ?? false;
  const chunkSize = Math.max(1, options.chunkSize ?? defaultChunk(pairs, limit + (callerRuns ? 1 : 0)));
  // Below one chunk a round trip to a worker costs more than scoring here.
  if (pairs.length <= chunkSize) return rougeLMany(pairs, options);
  return new Promise<RougeScore[]>((resolve, reject) => {
    const call: PoolCall = {
      pairs,
      options,
      charMode: isCharMode(options),
      eps: epsilonOf(options),
      lengths: new Int32Array(pairs.length * 2),
      results: new Array<RougeScore>(pairs.length),
      next: 0,
      tail: pairs.length,
      chunkSize,
      fixedChunks: options.chunkSize !== undefined,
      slice: sliceOf(pairs),
      sharers: limit + (callerRuns ? 1 : 0),
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
    if (callerRuns) void scoreHere(st, call);
  });
}

/**
 * About a millisecond of scoring on one thread, at least one pair: a pair costs ≈ 5 ns per character read plus
 * ≈ 1.5 ns per 64-bit word step of the LCS (m·n / 64), measured on answer-length and 2,000/10,000-character pairs.
 */
function sliceOf(pairs: readonly RougePair[]): number {
  let ns = 0;
  const n = Math.min(pairs.length, 256);
  for (let i = 0; i < n; i++) {
    const a = pairs[i]!.candidate.length;
    const b = pairs[i]!.reference.length;
    ns += 5 * (a + b) + (1.5 * a * b) / 64;
  }
  return Math.max(1, Math.floor(1e6 / Math.max(1, ns / Math.max(1, n))));
}

/** The next chunk for a worker: guided (a share of what is left, never under a slice) unless fixed by the caller. */
function takeChunk(call: PoolCall): { start: number; end: number } {
  const left = call.tail - call.next;
  const size = call.fixedChunks ? call.chunkSize : Math.min(call.chunkSize, Math.max(call.slice, Math.ceil(left / (2 * call.sharers))));
  const start = call.next;
  call.next = Math.min(call.tail, start + size);
  return { start, end: call.next };
}

/** The calling thread's share: slices from the back until the workers' front meets it, yielding in between. */
async function scoreHere(st: PoolState, call: PoolCall): Promise<void> {
  while (!call.settled && call.tail > call.next) {
    const end = call.tail;
    const start = Math.max(call.next, end - call.slice);
    call.tail = start;
    try {
      scoreRange(call.pairs, start, end, call.options, call.results);
    } catch (e) {
      failCall(st, call, e);
      return;
    }
    addDone(st, call, end - start);
    // worker replies are handled (and their next chunks sent) between slices
    if (call.tail > call.next) await new Promise<void>((r) => setImmediate(r));
  }
}

/** Counts finished pairs, reports progress, and resolves the call when every pair is scored. */
function addDone(st: PoolState, call: PoolCall, count: number): void {
  call.done += count;
  try {
    call.options.onProgress?.(call.done, call.pairs.length);
  } catch (e) {
    // a throwing callback fails its call (it would otherwise surface as an unhandled rejection)
    failCall(st, call, e);
    return;
  }
  if (call.done === call.pairs.length) {
    call.settled = true;
    st.calls.splice(st.calls.indexOf(call), 1);
    call.resolve(call.results);
  }
}

function failCall(st: PoolState, call: PoolCall, e: unknown): void {
  if (call.settled) return;
  call.settled = true;
  call.next = call.tail;
  const k = st.calls.indexOf(call);
  if (k >= 0) st.calls.splice(k, 1);
  call.reject(e);
}

/** Starts one more worker; returns its index. */
function spawnWorker(st: PoolState): number {
  // Workers compile nothing: they get the module compiled here (and a clean execArgv, see newWorker).
  const spawn = () => newWorker(workerSource(), { eval: true, workerData: { module: kernelModule() } });
  if (st.pool) st.pool.grow(st.pool.size + 1);
  else st.pool = createWorkerPool<ChunkRequest, ChunkReply>({ size: 1, spawn, unref: st.unref });
  st.tasks.push([]);
  return st.tasks.length - 1;
}

/** Sends one chunk to worker `i`; the pool answers in order, so the reply settles this task. */
function post(st: PoolState, i: number, task: PoolTask, msg: ChunkRequest, transfer: ArrayBuffer[]): void {
  const mine = st.tasks[i]!;
  const drop = () => {
    const k = mine.indexOf(task);
    if (k >= 0) mine.splice(k, 1);
  };
  st.pool!.run(msg, transfer, { worker: i }).then(
    (m) => {
      drop();
      finishChunk(st, task.call, task.start, task.end, m);
      dispatch(st);
    },
    (e: unknown) => {
      drop();
      task.call.inFlight--;
      // A crashed worker is replaced by the pool; its chunks fail their calls (a closed pool has failed them already).
      failCall(st, task.call, new RougeError("POOL_CLOSED", `ROUGE-L ${e instanceof Error ? e.message : String(e)}`));
      dispatch(st);
    },
  );
  mine.push(task);
  task.call.inFlight++;
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
  addDone(st, call, end - start);
}

function sendChunk(st: PoolState, i: number, call: PoolCall, start: number, end: number): void {
  const { pairs } = call;
  if (call.charMode) {
    // The chunk's texts as one array in one message, tokenized in the worker. (Measured: joining them into one
    // string with an offset table cost 40% more CPU in all, the join and the sliced reads in the worker.)
    const texts: string[] = [];
    for (let i = start; i < end; i++) texts.push(pairs[i]!.candidate, pairs[i]!.reference);
    post(st, i, { call, start, end }, { texts }, []);
  } else {
    const { data, offsets, wasm } = symbolChunk(call, start, end);
    post(st, i, { call, start, end }, { data, offsets, wasm }, [data.buffer, offsets.buffer]);
  }
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
function pickWorker(st: PoolState, call: PoolCall, depth: number): number | undefined {
  const all = st.tasks.map((_, i) => i);
  const mine = all.filter((i) => st.tasks[i]!.some((t) => t.call === call));
  let best: number | undefined;
  for (const i of mine.length >= call.limit ? mine : all) if (st.tasks[i]!.length < depth && (best === undefined || st.tasks[i]!.length < st.tasks[best]!.length)) best = i;
  if (best === undefined && mine.length < call.limit && st.tasks.length < st.size) best = spawnWorker(st);
  return best;
}

/** Idle workers first (one chunk each, spawning up to the pool size), then a second chunk into each inbox. */
function dispatch(st: PoolState): void {
  if (st.closed) return;
  for (let depth = 1; depth <= DEPTH; depth++) {
    for (let sent = true; sent; ) {
      sent = false;
      for (const call of st.calls) {
        if (call.next >= call.tail) continue;
        const pw = pickWorker(st, call, depth);
        if (pw === undefined) continue;
        const chunk = takeChunk(call);
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
  await st.pool?.close();
}
