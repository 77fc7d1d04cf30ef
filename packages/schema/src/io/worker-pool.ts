import type { Transferable, Worker } from "node:worker_threads";
import { SchemaError } from "../errors.js";

export type WorkerPoolErrorCode = "WORKER_CRASHED" | "POOL_CLOSED";

/** A task lost to a crashed worker (`WORKER_CRASHED`, the crash as `cause`) or to a closed pool (`POOL_CLOSED`). */
export class WorkerPoolError extends SchemaError {
  override readonly name = "WorkerPoolError";
  declare readonly code: WorkerPoolErrorCode;
  constructor(code: WorkerPoolErrorCode, message: string, cause?: unknown) {
    super(message, { code, cause });
  }
}

export interface WorkerPoolOptions {
  /** Workers started up front (at least 1). */
  size: number;
  /** Starts worker `index`: called at creation, on `grow`, and again to replace a crashed worker. */
  spawn: (index: number) => Worker;
  /** Let the process exit while the pool is idle: a worker is `ref`'d only while it has work. @default false */
  unref?: boolean;
  /** The pool closes (rejecting unfinished tasks) when this aborts. */
  signal?: AbortSignal;
}

export interface WorkerPoolRunOptions {
  /** Pick among the first `upTo` workers only. @default all */
  upTo?: number;
  /** Send to this worker instead of the least busy one. */
  worker?: number;
}

/**
 * Worker threads answering requests in order: each worker replies to its messages one by one, first in first
 * out, so a reply needs no id. A task goes to the least busy worker unless told otherwise.
 */
export interface WorkerPool<Req, Res> extends AsyncDisposable {
  run(msg: Req, transferList?: readonly Transferable[], options?: WorkerPoolRunOptions): Promise<Res>;
  /** Workers in the pool. */
  readonly size: number;
  /** Tasks sent and not yet answered, over all workers. */
  readonly busy: number;
  readonly closed: boolean;
  /** Tasks in flight on worker `index`. */
  busyOf(index: number): number;
  /** Start more workers (never fewer); returns the size. */
  grow(size: number): number;
  /** Terminates every worker; unfinished tasks reject with `POOL_CLOSED`. Idempotent. */
  close(): Promise<void>;
}

interface Task<Res> {
  resolve: (r: Res) => void;
  reject: (e: Error) => void;
}

interface Slot<Res> {
  w: Worker;
  tasks: Task<Res>[];
}

export function createWorkerPool<Req, Res>(options: WorkerPoolOptions): WorkerPool<Req, Res> {
  const unref = options.unref ?? false;
  const slots: Slot<Res>[] = [];
  let closed = false;

  const start = (index: number): Slot<Res> => {
    const slot: Slot<Res> = { w: options.spawn(index), tasks: [] };
    const lost = (err: Error) => {
      if (closed || slots[index] !== slot) return;
      const e = new WorkerPoolError("WORKER_CRASHED", `worker ${index} crashed: ${err.message}`, err);
      for (const t of slot.tasks.splice(0)) t.reject(e);
      void slot.w.terminate();
      slots[index] = start(index);
    };
    slot.w.on("message", (res: Res) => {
      const t = slot.tasks.shift();
      if (unref && slot.tasks.length === 0) slot.w.unref();
      t?.resolve(res);
    });
    slot.w.on("error", lost);
    slot.w.on("exit", (code) => lost(new Error(`exited with code ${code}`)));
    if (unref) slot.w.unref();
    return slot;
  };
  const grow = (size: number) => {
    while (!closed && slots.length < size) slots.push(start(slots.length));
    return slots.length;
  };
  grow(Math.max(1, Math.floor(options.size)));

  const close = async () => {
    if (closed) return;
    closed = true;
    const e = new WorkerPoolError("POOL_CLOSED", "the worker pool was closed before this task finished");
    const all = slots.splice(0);
    for (const s of all) for (const t of s.tasks.splice(0)) t.reject(e);
    await Promise.all(all.map((s) => s.w.terminate()));
  };
  const signal = options.signal;
  if (signal?.aborted) void close();
  else signal?.addEventListener("abort", () => void close(), { once: true });

  const run = (msg: Req, transferList: readonly Transferable[] = [], opts: WorkerPoolRunOptions = {}): Promise<Res> => {
    if (closed) return Promise.reject(new WorkerPoolError("POOL_CLOSED", "the worker pool is closed"));
    let pick = opts.worker ?? 0;
    if (opts.worker === undefined) {
      const upTo = Math.max(1, Math.min(slots.length, opts.upTo ?? slots.length));
      for (let i = 1; i < upTo; i++) if (slots[i]!.tasks.length < slots[pick]!.tasks.length) pick = i;
    }
    const slot = slots[pick];
    if (!slot) return Promise.reject(new RangeError(`no worker ${pick} in a pool of ${slots.length}`));
    return new Promise<Res>((resolve, reject) => {
      slot.w.postMessage(msg, transferList);
      // A busy worker keeps the process alive even in an unref'd pool: the caller awaits its answer.
      if (slot.tasks.push({ resolve, reject }) === 1 && unref) slot.w.ref();
    });
  };

  return {
    run,
    get size() {
      return slots.length;
    },
    get busy() {
      return slots.reduce((n, s) => n + s.tasks.length, 0);
    },
    get closed() {
      return closed;
    },
    busyOf: (index) => slots[index]?.tasks.length ?? 0,
    grow,
    close,
    [Symbol.asyncDispose]: close,
  };
}
