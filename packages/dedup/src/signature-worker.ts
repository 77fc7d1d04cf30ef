// Worker-thread entry: computes signature batches for SignaturePool, from texts or from raw JSONL chunks.
// Built to dist/signature-worker.js; under tests it runs from source (see signature-pool.ts).
import { parentPort, workerData } from "node:worker_threads";
import { createJsonlBatchComputer, isBatchError, type JsonlView } from "./jsonl-batch.js";
import { createBatchComputer, transferList, type BatchParams } from "./signature-batch.js";

const compute = createBatchComputer(workerData as BatchParams);
let computeJsonl: ReturnType<typeof createJsonlBatchComputer> | undefined;
type Msg = { seq: number; texts: string[] } | { seq: number; bytes: Uint8Array; view: JsonlView };
parentPort!.on("message", (msg: Msg) => {
  try {
    if ("texts" in msg) {
      const result = compute(msg.texts);
      parentPort!.postMessage({ seq: msg.seq, result }, transferList(result));
      return;
    }
    computeJsonl ??= createJsonlBatchComputer(workerData as BatchParams);
    const out = computeJsonl(msg.bytes, msg.view);
    parentPort!.postMessage({ seq: msg.seq, result: out }, isBatchError(out) ? [] : jsonlTransfer(out));
  } catch (err) {
    parentPort!.postMessage({ seq: msg.seq, error: err instanceof Error ? err.message : String(err) });
  }
});

function jsonlTransfer(out: { batch: Parameters<typeof transferList>[0]; sourceOf: Int32Array; lengths?: Int32Array; idLines?: Int32Array }): ArrayBuffer[] {
  const list = transferList(out.batch);
  for (const a of [out.sourceOf, out.lengths, out.idLines]) if (a) list.push(a.buffer as ArrayBuffer);
  return list;
}
