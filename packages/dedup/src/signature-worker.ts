// Worker-thread entry: computes signature batches for SignaturePool. Built to dist/signature-worker.js; under
// tests it runs from source through tsx (see signature-pool.ts).
import { parentPort, workerData } from "node:worker_threads";
import { createBatchComputer, transferList, type BatchParams } from "./signature-batch.js";

const compute = createBatchComputer(workerData as BatchParams);
parentPort!.on("message", (msg: { seq: number; texts: string[] }) => {
  try {
    const result = compute(msg.texts);
    parentPort!.postMessage({ seq: msg.seq, result }, transferList(result));
  } catch (err) {
    parentPort!.postMessage({ seq: msg.seq, error: err instanceof Error ? err.message : String(err) });
  }
});
