import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { workerExecArgv } from "@sfmed/schema";
import { MergeInputError, SafetensorsError, type SafetensorsErrorCode } from "./errors.js";
import type { MergedChunk, TensorMergeParams } from "./merge-tensor.js";

/** What each merge worker starts with. */
export interface WorkerData {
  refPath: string;
  /** One path per model; undefined where the model is the reference itself. */
  modelPaths: Array<string | undefined>;
  params: TensorMergeParams;
}
/** `ack`: the last chunk is written; its buffer comes back (transferred) when it held encoded bytes, for reuse. */
export type WorkerRequest = { type: "tensor"; name: string } | { type: "ack"; buffer?: ArrayBuffer } | { type: "close" };
export type WorkerReply =
  | { type: "chunk"; name: string; start: number; data: MergedChunk }
  | { type: "done"; name: string }
  | { type: "error"; error: { name: string; message: string; code?: string | undefined; file?: string | undefined; field?: string | undefined } };

/**
 * Where the worker script lives: `merge-worker.js` beside the built bundle, or, when running from source (tests,
 * `tsx`), the `.ts` file loaded through tsx's ESM hooks in a tiny bootstrap.
 */
function workerEntry(): { url: URL | string; eval: boolean } {
  const js = new URL("./merge-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js, eval: false };
  const ts = new URL("./merge-worker.ts", import.meta.url);
  if (!existsSync(fileURLToPath(ts))) throw new MergeInputError("merge worker script not found beside the module (use threads: 1)", { field: "threads" });
  let api: string;
  try {
    api = createRequire(import.meta.url).resolve("tsx/esm/api");
  } catch (cause) {
    throw new MergeInputError("running from TypeScript sources needs tsx for worker threads (or use threads: 1)", { field: "threads", cause });
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
    const err = new MergeInputError("", { field: e.field, cause });
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
  const workers: Worker[] = [];
  const exits: Array<Promise<void>> = [];
  let ok = false;
  try {
    await new Promise<void>((resolve, reject) => {
      let active = 0;
      let failed = false;
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      for (let i = 0; i < count; i++) {
        const w = new Worker(entry.url, { eval: entry.eval, workerData: opts.data, execArgv: workerExecArgv() });
        workers.push(w);
        exits.push(new Promise((r) => w.once("exit", () => r())));
        const feed = () => {
          const name = queue.shift();
          if (name === undefined) {
            w.postMessage({ type: "close" } satisfies WorkerRequest);
            if (--active === 0 && !failed) resolve();
            return;
          }
          w.postMessage({ type: "tensor", name } satisfies WorkerRequest);
        };
        w.on("message", (msg: WorkerReply) => {
          if (failed) return;
          if (msg.type === "chunk") {
            opts.write(msg.name, msg.start, msg.data).then(
              () => {
                if (msg.data instanceof Float32Array) w.postMessage({ type: "ack" } satisfies WorkerRequest);
                else {
                  const buffer = msg.data.buffer as ArrayBuffer;
                  w.postMessage({ type: "ack", buffer } satisfies WorkerRequest, [buffer]);
                }
              },
              (e: unknown) => fail(e instanceof Error ? e : new Error(String(e))),
            );
          } else if (msg.type === "done") {
            opts.onDone(msg.name);
            feed();
          } else fail(revive(msg.error));
        });
        w.on("error", (err) => fail(revive({ name: err.name, message: `merge worker crashed: ${err.message}` }, err)));
        w.on("exit", (code) => {
          if (code !== 0) fail(new Error(`merge worker exited with code ${code}`));
        });
        active++;
        feed();
      }
    });
    ok = true;
  } finally {
    // On success the workers close their files and exit by themselves.
    if (!ok) await Promise.all(workers.map((w) => w.terminate()));
    await Promise.all(exits);
  }
}
