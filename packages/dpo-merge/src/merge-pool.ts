import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createWorkerPool, newWorker } from "@sfmed/schema";
import { MergeInputError, type MergeInputErrorCode, SafetensorsError, type SafetensorsErrorCode } from "./errors.js";
import type { MergedChunk, TensorMergeParams } from "./merge-tensor.js";

/** What each merge worker starts with. */
export interface WorkerData {
  refPath: string;
  /** One path per model; undefined where the model is the reference itself. */
  modelPaths: Array<string | undefined>;
  params: TensorMergeParams;
}
/**
 * Each request gets exactly one reply: `tensor` and `ack` the next chunk, `done` or `error`; `close` (the files
 * are closed) `closed`. `ack`: the last chunk is written; its buffer comes back (transferred) when it held
 * encoded bytes, for reuse.
 */
export type WorkerRequest = { type: "tensor"; name: string } | { type: "ack"; buffer?: ArrayBuffer } | { type: "close" };
export type WorkerReply =
  | { type: "chunk"; name: string; start: number; data: MergedChunk }
  | { type: "done"; name: string }
  | { type: "closed" }
  | { type: "error"; error: { name: string; message: string; code?: string | undefined; file?: string | undefined; field?: string | undefined } };

/**
 * Where the worker script lives: `merge-worker.js` beside the built bundle, or, when running from source (tests,
 * `tsx`), the `.ts` file loaded through tsx's ESM hooks in a tiny bootstrap.
 */
function workerEntry(): { url: URL | string; eval: boolean } {
  const js = new URL("./merge-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js, eval: false };
  const ts = new URL("./merge-worker.ts", import.meta.url);
  if (!existsSync(fileURLToPath(ts))) throw new MergeInputError("merge worker script not found beside the module (use threads: 1)", { code: "BAD_OPTION", field: "threads" });
  let api: string;
  try {
    api = createRequire(import.meta.url).resolve("tsx/esm/api");
  } catch (cause) {
    throw new MergeInputError("running from TypeScript sources needs tsx for worker threads (or use threads: 1)", { code: "BAD_OPTION", field: "threads", cause });
  }
  // tsx's "require" export is the CJS build; the ESM API sits beside it.
  const esmApi = api.replace(/index\.cjs$/, "index.mjs");
  const code = `import(${JSON.stringify(pathToFileURL(esmApi).href)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); });`;
  return { url: code, eval: true };
}

function revive(e: Extract<WorkerReply, { type: "error" }>["error"], cause?: unknown): Error {
  // Messages already carry the file/field prefix the constructors would add again.
  if (e.name === "SafetensorsError") {
    const err = new SafetensorsError("", { code: (e.code ?? "HEADER_INVALID") as SafetensorsErrorCode, file: e.file, field: e.field, cause });
    err.message = e.message;
    return err;
  }
  if (e.name === "MergeInputError") {
    const err = new MergeInputError("", { code: (e.code ?? "INPUT_MISMATCH") as MergeInputErrorCode, field: e.field, cause });
    err.message = e.message;
    return err;
  }
  const err = new Error(e.message, cause !== undefined ? { cause } : undefined);
  err.name = e.name;
  return err;
}

/**
 * Merge `names` on `threads` worker threads, biggest tensors first, each tensor whole on one thread (so results
 * are bit-identical to the single-threaded path). Chunks come back to this thread, which writes them with
 * `write`; `onDone` fires as each tensor completes. Rejects with the first worker error, after stopping all.
 */
export async function runMergePool(opts: {
  data: WorkerData;
  names: string[];
  numel: (name: string) => number;
  threads: number;
  write: (name: string, start: number, data: MergedChunk) => Promise<void>;
  onDone: (name: string) => void;
}): Promise<void> {
  const queue = [...opts.names].sort((a, b) => opts.numel(b) - opts.numel(a));
  const count = Math.min(opts.threads, queue.length);
  if (count === 0) return;
  const entry = workerEntry();
  const pool = createWorkerPool<WorkerRequest, WorkerReply>({
    size: count,
    spawn: () => newWorker(entry.url, { eval: entry.eval, workerData: opts.data }),
  });
  // One thread works through whole tensors until the queue is empty, then closes its files.
  const drain = async (worker: number): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      let reply = await pool.run({ type: "tensor", name }, [], { worker });
      while (reply.type === "chunk") {
        await opts.write(reply.name, reply.start, reply.data);
        const data = reply.data;
        const buffer = data instanceof Float32Array ? undefined : (data.buffer as ArrayBuffer);
        reply = await pool.run({ type: "ack", ...(buffer && { buffer }) }, buffer ? [buffer] : [], { worker });
      }
      if (reply.type === "error") throw revive(reply.error);
      if (reply.type === "done") opts.onDone(reply.name);
    }
    await pool.run({ type: "close" }, [], { worker });
  };
  try {
    // The first failure rejects at once; `finally` then stops the other threads mid-tensor.
    await Promise.all(Array.from({ length: count }, (_, i) => drain(i))).catch((e: unknown) => {
      throw crashed(e);
    });
  } finally {
    await pool.close();
  }
}

/** A lost worker's error names the merge worker; errors the worker reported come through as they are. */
function crashed(e: unknown): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  if (e.name !== "WorkerPoolError") return e;
  return revive({ name: "Error", message: `merge ${e.message}` }, e.cause ?? e);
}
