import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { workerExecArgv } from "@sfmed/schema/io";
import { DedupError } from "./errors.js";
import { createJsonlBatchComputer, type JsonlBatchError, type JsonlBatchResult, type JsonlView } from "./jsonl-batch.js";
import { createBatchComputer, type BatchParams, type BatchResult } from "./signature-batch.js";

/** Computes signature batches for one parameter set on worker threads, or on the calling thread when `threads` is 0. */
export interface SignaturePool {
  readonly threads: number;
  /** Submit a batch; results resolve in any order, so callers keep their own sequence. */
  compute(texts: string[]): Promise<BatchResult>;
  /** Submit a chunk of whole JSONL lines (UTF-8); its buffer is transferred to the worker. */
  computeJsonl(bytes: Uint8Array, view: JsonlView): Promise<JsonlBatchResult | JsonlBatchError>;
  close(): Promise<void>;
}

/**
 * Where the worker script lives: `signature-worker.js` beside the built bundle, or, when running from source
 * (tests, `tsx`), the `.ts` file loaded through tsx's ESM hooks in a tiny bootstrap.
 */
function workerEntry(): { url: URL | string; eval: boolean } {
  const js = new URL("./signature-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js, eval: false };
  const ts = new URL("./signature-worker.ts", import.meta.url);
  if (!existsSync(fileURLToPath(ts))) throw new DedupError("signature worker script not found beside the module", { code: "NO_WORKER" });
  let api: string;
  try {
    api = createRequire(import.meta.url).resolve("tsx/esm/api");
  } catch (cause) {
    throw new DedupError("running from TypeScript sources needs tsx for worker threads (or use threads: 0)", { code: "NO_WORKER", cause });
  }
  // Fast path: bundle the worker's few source files into one plain-JS script with the esbuild that tsx ships,
  // so each worker starts without loading tsx and transpiling module by module (measured ≈170 ms of CPU per
  // worker). Any failure falls back to tsx's hooks below.
  bundled ??= bundleWorker(api, fileURLToPath(ts));
  if (bundled) return { url: bundled, eval: true };
  // tsx's "require" export is the CJS build; the ESM API sits beside it.
  const esmApi = api.replace(/index\.cjs$/, "index.mjs");
  const code = `import(${JSON.stringify(pathToFileURL(esmApi).href)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); });`;
  return { url: code, eval: true };
}

let bundled: string | null | undefined;

interface EsbuildSync {
  buildSync(options: Record<string, unknown>): { outputFiles?: Array<{ text: string }> };
}

function bundleWorker(tsxEntry: string, entry: string): string | null {
  try {
    const esbuild = createRequire(tsxEntry)("esbuild") as EsbuildSync;
    // sibling packages from their sources too (the `@sfmed/source` condition), as the calling thread sees them
    const out = esbuild.buildSync({ entryPoints: [entry], bundle: true, format: "cjs", platform: "node", target: "node20", conditions: ["@sfmed/source"], write: false, logLevel: "silent" });
    return out.outputFiles?.[0]?.text ?? null;
  } catch {
    return null;
  }
}

/** Options of {@link createSignatureWorkers}. */
export interface SignatureWorkersOptions {
  /** Worker threads. @default os.availableParallelism() */
  threads?: number;
  /** The workers close (rejecting unfinished batches) when this aborts. */
  signal?: AbortSignal;
  /** Let the process exit while the workers are idle (a busy worker still holds it). @default false */
  unref?: boolean;
}

/**
 * Signature worker threads that outlive one dedup run: started once, reused by every {@link SignaturePool} bound
 * to them (any parameters), closed with `close()`, `await using` or the `signal` option.
 */
export interface SignatureWorkers extends AsyncDisposable {
  readonly threads: number;
  readonly closed: boolean;
  /** A pool for one parameter set on the first `threads` workers (default all); its `close()` leaves them running. */
  bind(params: BatchParams, threads?: number): SignaturePool;
  /** Start more workers (never fewer); returns the thread count. */
  grow(threads: number): number;
  close(): Promise<void>;
}

type Out = BatchResult | JsonlBatchResult | JsonlBatchError;
interface Pending {
  resolve: (r: Out) => void;
  reject: (e: Error) => void;
}

interface Reply {
  seq: number;
  result?: Out;
  error?: string;
}

/** Settles the batch a worker's reply answers. */
function settle(pending: Map<number, Pending>, msg: Reply): void {
  const p = pending.get(msg.seq);
  pending.delete(msg.seq);
  if (!p) return;
  if (msg.error !== undefined) p.reject(new DedupError(`signature worker failed: ${msg.error}`, { code: "WORKER_FAILED" }));
  else p.resolve(msg.result!);
}

function onAbort(signal: AbortSignal | undefined, close: () => Promise<void>): void {
  if (!signal) return;
  if (signal.aborted) void close();
  else signal.addEventListener("abort", () => void close(), { once: true });
}

export function createSignatureWorkers(options: SignatureWorkersOptions = {}): SignatureWorkers {
  const unref = options.unref ?? false;
  const pending = new Map<number, Pending>();
  const workers: Worker[] = [];
  const busy: number[] = [];
  let failure: Error | undefined;
  let closed = false;
  let seq = 0;
  const fail = (err: Error) => {
    failure = new DedupError(`signature worker crashed: ${err.message}`, { code: "WORKER_FAILED", cause: err });
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  const start = () => {
    const entry = workerEntry();
    const i = workers.length;
    const w = new Worker(entry.url, { eval: entry.eval, execArgv: workerExecArgv() });
    w.on("message", (msg: Reply) => {
      if (--busy[i]! === 0 && unref) w.unref();
      settle(pending, msg);
    });
    w.on("error", fail);
    w.on("exit", (code) => {
      if (!closed && !failure) fail(new Error(`exited with code ${code}`));
    });
    if (unref) w.unref();
    workers.push(w);
    busy.push(0);
  };
  const grow = (threads: number) => {
    while (workers.length < threads && !closed) start();
    return workers.length;
  };
  grow(Math.max(1, Math.floor(options.threads ?? availableParallelism())));

  const submit = (upTo: number, msg: object, transfer: ArrayBuffer[]): Promise<Out> => {
    if (failure) return Promise.reject(failure);
    if (closed) return Promise.reject(new DedupError("the signature workers are closed", { code: "WORKER_FAILED" }));
    let pick = 0;
    for (let i = 1; i < upTo; i++) if (busy[i]! < busy[pick]!) pick = i;
    const id = seq++;
    if (busy[pick]!++ === 0 && unref) workers[pick]!.ref();
    return new Promise<Out>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      workers[pick]!.postMessage({ seq: id, ...msg }, transfer);
    });
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    const err = new DedupError("the signature workers were closed", { code: "WORKER_FAILED" });
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  };
  onAbort(options.signal, close);
  return {
    get threads() {
      return workers.length;
    },
    get closed() {
      return closed || failure !== undefined;
    },
    grow,
    close,
    [Symbol.asyncDispose]: close,
    bind(params, threads) {
      const upTo = Math.max(1, Math.min(threads ?? workers.length, grow(threads ?? 0)));
      return {
        threads: upTo,
        compute: (texts) => submit(upTo, { params, texts }, []) as Promise<BatchResult>,
        computeJsonl: (bytes, view) => submit(upTo, { params, bytes, view }, [bytes.buffer as ArrayBuffer]) as Promise<JsonlBatchResult | JsonlBatchError>,
        close: async () => {},
      };
    },
  };
}

let shared: SignatureWorkers | undefined;

/**
 * The process-wide workers behind {@link createSignaturePool}: started on first use, grown to the largest thread
 * count asked for, idle workers `unref`'d (they never keep the process alive), replaced after a crash.
 */
export function sharedSignatureWorkers(threads: number): SignatureWorkers {
  if (!shared || shared.closed) shared = createSignatureWorkers({ threads, unref: true });
  else shared.grow(threads);
  return shared;
}

/**
 * A signature pool for one parameter set: on `workers` when given, else on the process-wide shared workers (so
 * consecutive runs reuse started threads), or on the calling thread when `threads` is 0. Its `close()` ends
 * only the calling-thread state; worker threads stay up for the next run.
 */
export function createSignaturePool(params: BatchParams, threads: number, normalize?: (text: string) => string, workers?: SignatureWorkers): SignaturePool {
  if (threads <= 0) {
    const compute = createBatchComputer(params, normalize);
    let computeJsonl: ReturnType<typeof createJsonlBatchComputer> | undefined;
    return {
      threads: 0,
      compute: async (texts) => compute(texts),
      computeJsonl: async (bytes, view) => (computeJsonl ??= createJsonlBatchComputer(params))(bytes, view),
      close: async () => {},
    };
  }
  return (workers ?? sharedSignatureWorkers(threads)).bind(params, threads);
}
