// Worker of bench/kernel-vs-rensa.ts: signatures of its share of a flat shingle-hash buffer, on request.
import { parentPort, workerData } from "node:worker_threads";
import { MinHasher, type Sketch } from "../src/minhasher.js";

const { flat: shared, offsets, sketch } = workerData as { flat: Int32Array; offsets: Float64Array; sketch: Sketch };
const flat = shared.slice(); // plain memory (see kernel-vs-rensa.ts)
const h = new MinHasher({ numPerm: 128, seed: 1, sketch });
const sig = new Int32Array(128);
parentPort!.on("message", ({ from, to }: { from: number; to: number }) => {
  let check = 0;
  for (let d = from; d < to; d++) {
    h.signatureOfHashes(flat.subarray(offsets[d]!, offsets[d + 1]!), sig);
    check ^= sig[0]!;
  }
  parentPort!.postMessage(check);
});
