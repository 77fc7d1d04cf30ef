// Worker thread of the offline merge: opens the inputs itself (headers only), merges the tensors the pool hands
// it, and posts each merged float32 chunk back (transferred, not copied); the next chunk is handed over only
// after the pool acknowledges the previous write, so memory stays at a few chunks per input.
import { parentPort, workerData } from "node:worker_threads";
import { Checkpoint } from "./checkpoint.js";
import { recycleBuffer } from "./merge-bf16.js";
import { mergeTensor } from "./merge-tensor.js";
import type { WorkerData, WorkerReply, WorkerRequest } from "./merge-pool.js";

const port = parentPort!;
const data = workerData as WorkerData;
let acked: (() => void) | undefined;

function serialise(e: unknown): WorkerReply {
  const err = e instanceof Error ? e : new Error(String(e));
  const x = err as Error & { code?: string; file?: string; field?: string };
  return { type: "error", error: { name: err.name, message: err.message, code: x.code, file: x.file, field: x.field } };
}

const ready = (async () => {
  const ref = await Checkpoint.open(data.refPath);
  const models = await Promise.all(data.modelPaths.map((m) => (m === undefined ? ref : Checkpoint.open(m))));
  return { ref, models };
})();

port.on("message", (msg: WorkerRequest) => {
  if (msg.type === "ack") {
    if (msg.buffer) recycleBuffer(msg.buffer);
    const a = acked;
    acked = undefined;
    a?.();
    return;
  }
  if (msg.type === "close") {
    void ready.then(async ({ ref, models }) => {
      await Promise.all([ref, ...models.filter((m) => m !== ref)].map((c) => c.close()));
      port.postMessage({ type: "closed" } satisfies WorkerReply);
    }, () => port.postMessage({ type: "closed" } satisfies WorkerReply));
    return;
  }
  void (async () => {
    try {
      const { ref, models } = await ready;
      await mergeTensor(msg.name, data.params, ref, models, (start, chunk) => {
        const done = new Promise<void>((resolve) => (acked = resolve));
        const reply: WorkerReply = { type: "chunk", name: msg.name, start, data: chunk };
        port.postMessage(reply, [chunk.buffer as ArrayBuffer]);
        return done;
      });
      port.postMessage({ type: "done", name: msg.name } satisfies WorkerReply);
    } catch (e) {
      port.postMessage(serialise(e));
    }
  })();
});
