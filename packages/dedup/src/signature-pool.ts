import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createWorkerPool, newWorker } from "@sfmed/schema/io";
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

/** The worker answers each batch in order; `seq` is echoed back. */
interface Reply {
  seq: number;
  result?: Out;
  error?: string;
}

export function createSignatureWorkers(options: SignatureWorkersOptions = {}): SignatureWorkers {
  const pool = createWorkerPool<object, Reply>({
    size: Math.max(1, Math.floor(options.threads ?? availableParallelism())),
    spawn: () => {
      const entry = workerEntry();
      return newWorker(entry.url, { eval: entry.eval });
    },
    unref: options.unref ?? false,
    ...(options.signal && { signal: options.signal }),
  });
  let seq = 0;
  const submit = async (upTo: number, msg: object, transfer: ArrayBuffer[]): Promise<Out> => {
    if (pool.closed) throw new DedupError("the signature workers are closed", { code: "WORKER_FAILED" });
    let reply: Reply;
    try {
      reply = await pool.run({ seq: seq++, ...msg }, transfer, { upTo });
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === "POOL_CLOSED") throw new DedupError("the signature workers were closed", { code: "WORKER_FAILED", cause: e });
      // a crashed worker is replaced by the pool; the batches it held fail
      throw new DedupError(`signature ${e.message}`, { code: "WORKER_FAILED", cause: e.cause ?? e });
    }
    if (reply.error !== undefined) throw new DedupError(`signature worker failed: ${reply.error}`, { code: "WORKER_FAILED" });
    return reply.result!;
  };
  const close = () => pool.close();
  return {
    get threads() {
      return pool.size;
    },
    get closed() {
      return pool.closed;
    },
    grow: (threads) => pool.grow(threads),
    close,
    [Symbol.asyncDispose]: close,
    bind(params, threads) {
      const upTo = Math.max(1, Math.min(threads ?? pool.size, pool.grow(threads ?? 0)));
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
 * count asked for, idle workers `unref`'d (they never keep the process alive); a crashed worker is replaced.
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
