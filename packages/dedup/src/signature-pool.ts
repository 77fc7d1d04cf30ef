import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { workerExecArgv } from "@sfmed/schema";
import { DedupError } from "./errors.js";
import { createJsonlBatchComputer, type JsonlBatchError, type JsonlBatchResult, type JsonlView } from "./jsonl-batch.js";
import { createBatchComputer, type BatchParams, type BatchResult } from "./signature-batch.js";

/** Computes signature batches on worker threads, or on the calling thread when `threads` is 0. */
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
    const out = esbuild.buildSync({ entryPoints: [entry], bundle: true, format: "cjs", platform: "node", target: "node20", write: false, logLevel: "silent" });
    return out.outputFiles?.[0]?.text ?? null;
  } catch {
    return null;
  }
}

export function createSignaturePool(params: BatchParams, threads: number, normalize?: (text: string) => string): SignaturePool {
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
  const entry = workerEntry();
  type Out = BatchResult | JsonlBatchResult | JsonlBatchError;
  const pending = new Map<number, { resolve: (r: Out) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  const workers: Worker[] = [];
  const busy: number[] = [];
  for (let i = 0; i < threads; i++) {
    const w = new Worker(entry.url, { eval: entry.eval, workerData: params, execArgv: workerExecArgv() });
    w.on("message", (msg: { seq: number; result?: Out; error?: string }) => {
      busy[i]!--;
      const p = pending.get(msg.seq);
      pending.delete(msg.seq);
      if (!p) return;
      if (msg.error !== undefined) p.reject(new DedupError(`signature worker failed: ${msg.error}`, { code: "WORKER_FAILED" }));
      else p.resolve(msg.result!);
    });
    w.on("error", (err) => {
      failure = new DedupError(`signature worker crashed: ${err.message}`, { code: "WORKER_FAILED", cause: err });
      for (const p of pending.values()) p.reject(failure);
      pending.clear();
    });
    workers.push(w);
    busy.push(0);
  }
  let seq = 0;
  const submit = (msg: object, transfer: ArrayBuffer[]): Promise<Out> => {
    if (failure) return Promise.reject(failure);
    if (!workers.length) return Promise.reject(new DedupError("the signature pool is closed", { code: "WORKER_FAILED" }));
    let pick = 0;
    for (let i = 1; i < workers.length; i++) if (busy[i]! < busy[pick]!) pick = i;
    const id = seq++;
    busy[pick]!++;
    return new Promise<Out>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      workers[pick]!.postMessage({ seq: id, ...msg }, transfer);
    });
  };
  return {
    threads,
    compute: (texts) => submit({ texts }, []) as Promise<BatchResult>,
    computeJsonl: (bytes, view) => submit({ bytes, view }, [bytes.buffer as ArrayBuffer]) as Promise<JsonlBatchResult | JsonlBatchError>,
    async close() {
      const all = workers.splice(0);
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
