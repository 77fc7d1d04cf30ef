// Worker-thread entry: computes signature batches for SignaturePool, from texts or from raw JSONL chunks.
// Built to dist/signature-worker.js; under tests it runs from source (see signature-pool.ts).
import { parentPort } from "node:worker_threads";
import { createJsonlBatchComputer, isBatchError, type JsonlView } from "./jsonl-batch.js";
import { createBatchComputer, transferList, type BatchParams } from "./signature-batch.js";

// One computer per parameter set: the workers serve every run of a persistent pool, whatever its parameters.
type Computers = { compute: ReturnType<typeof createBatchComputer>; computeJsonl?: ReturnType<typeof createJsonlBatchComputer> };
const computers = new Map<string, Computers>();
function computersFor(params: BatchParams): Computers {
  const key = JSON.stringify(params);
  let c = computers.get(key);
  if (!c) {
    if (computers.size >= 8) computers.clear();
    c = { compute: createBatchComputer(params) };
    computers.set(key, c);
  }
  return c;
}
type Msg = { seq: number; params: BatchParams } & ({ texts: string[] } | { bytes: Uint8Array; view: JsonlView });
parentPort!.on("message", (msg: Msg) => {
  try {
    const c = computersFor(msg.params);
    if ("texts" in msg) {
      const result = c.compute(msg.texts);
      parentPort!.postMessage({ seq: msg.seq, result }, transferList(result));
      return;
    }
    c.computeJsonl ??= createJsonlBatchComputer(msg.params);
    const out = c.computeJsonl(msg.bytes, msg.view);
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
