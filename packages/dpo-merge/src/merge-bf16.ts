// The bf16 → bf16 path of `mergeTensor`: every input of the tensor and the output are bf16 and the runtime has
// Wasm SIMD. Chunks are read straight into the module's memory and merged by `Bf16Engine` with the same
// arithmetic, and so the same bits, as the float32 path, without float32 arrays. TIES finds each model's
// magnitude cut with two counting passes in the module (the radix select of `TopKCut`), and the L1 rescale
// (TIES or DARE) sums its norms in one more pass, before the merging pass.
import { Bf16Engine, type MixSpec, type MixValues } from "./bf16-kernels.js";
import type { Checkpoint } from "./checkpoint.js";
import type { MergedChunk, TensorMergeParams } from "./merge-tensor.js";
import { seededState } from "./seeded-rng.js";
import { slerpCoefficients } from "./slerp.js";
import { cutBin } from "./streaming-top-k.js";
import { deltaScale } from "./task-arithmetic.js";

export interface Bf16Plan {
  engine: Bf16Engine;
  inputs: Checkpoint[];
  values: MixValues;
  /** Models whose keep-mask is drawn (DARE). */
  masked: number[];
  /** TIES: every model's mask is its top-k magnitude cut. */
  trim: boolean;
  /** The masked deltas are rescaled to their dense L1 norm. */
  l1: boolean;
}

const f = Math.fround;

/**
 * The plan for the bf16 path, or undefined where the float32 path runs: another dtype in or out, an empty
 * tensor, no Wasm SIMD, or (TIES) a tensor of 2³¹ elements or more (the module's counters are 32-bit).
 */
export function bf16Plan(name: string, p: TensorMergeParams, ref: Checkpoint, modelCks: readonly Checkpoint[]): Bf16Plan | undefined {
  const { method, density } = p;
  if (p.wasm === false || (p.outDtype ?? ref.info(name).dtype) !== "BF16") return undefined;
  const n = ref.info(name).numel;
  const dareLike = method === "dare_ties" || method === "dare_linear";
  const drop = dareLike && density < 1;
  const trim = method === "ties" && density < 1;
  if (trim && n >= 2 ** 31) return undefined;
  const l1 = (drop || trim) && p.rescale === "l1";
  const inputs = method === "linear" ? [...modelCks] : method === "slerp" ? [ref, modelCks[0]!] : [ref, ...modelCks];
  if (inputs.some((ck) => ck.info(name).dtype !== "BF16") || n === 0) return undefined;
  const k = method === "slerp" ? 1 : modelCks.length;
  const w = p.weights.map(f);
  let wsum = 0;
  for (const x of w) wsum = f(wsum + x);
  const lambda = f(p.lambda);
  let spec: MixSpec;
  const values: MixValues = { weights: w };
  if (method === "linear") {
    spec = { kind: "linear", k, masked: [], scale: [], consensus: false, normalize: p.normalize && wsum !== 1, lambda: false };
    values.wsum = wsum;
  } else if (method === "slerp") {
    spec = { kind: "slerp", k, masked: [], scale: [], consensus: false, normalize: false, lambda: false };
  } else {
    // The L1 scale is known only after a pass over the data: always multiply (by 1 where mergekit's guard
    // leaves the norm alone, which changes no value), so the generated code does not depend on the data.
    const scale = drop && !l1 ? deltaScale(p.rescale, density) : undefined;
    const kind = l1 ? ("mul" as const) : scale === undefined ? undefined : "div" in scale ? ("div" as const) : ("mul" as const);
    spec = {
      kind: "task",
      k,
      masked: modelCks.map(() => drop || trim),
      scale: modelCks.map(() => kind),
      consensus: method === "dare_ties" || method === "ties",
      normalize: p.normalize,
      lambda: lambda !== 1,
      ...(trim ? { trim: true } : {}),
    };
    values.scales = modelCks.map(() => (scale === undefined ? 1 : "div" in scale ? scale.div : scale.mul));
    values.wsum = Math.abs(wsum) < 1e-8 ? 1 : wsum;
    values.lambda = lambda;
  }
  const engine = Bf16Engine.get(spec, p.chunk);
  if (!engine) return undefined;
  return { engine, inputs, values, masked: drop ? modelCks.map((_, i) => i) : [], trim, l1 };
}

type Each = (set: number, start: number, len: number) => void | Promise<void>;

/**
 * Passes over the tensor in chunks, read into the engine's two buffer sets (the next chunk is read while this
 * one is worked on). A tensor of one chunk is read once, whatever the number of passes.
 */
function passes(name: string, plan: Bf16Plan, chunk: number): (each: Each) => Promise<void> {
  const { engine, inputs } = plan;
  const n = inputs[0]!.info(name).numel;
  const readSet = (set: number, s: number) => {
    const len = Math.min(chunk, n - s);
    return Promise.all(inputs.map((ck, i) => ck.readRangeInto(name, s, len, engine.input(set, i))));
  };
  let resident = false;
  return async (each) => {
    if (resident) return each(0, 0, n);
    let next = readSet(0, 0);
    for (let s = 0, set = 0; s < n; s += chunk, set ^= 1) {
      await next;
      if (s + chunk < n) next = readSet(set ^ 1, s + chunk);
      await each(set, s, Math.min(chunk, n - s));
    }
    resident = n <= chunk;
  };
}

interface Cut {
  threshold: number;
  ties: number;
}

/** Each model's exact top-k cut of |δ| (k = max(1, ⌊density·n⌋); undefined when k = 0): `TopKCut.find` in the module. */
async function findCuts(plan: Bf16Plan, pass: (each: Each) => Promise<void>, n: number, density: number): Promise<Array<Cut | undefined>> {
  const { engine } = plan;
  const models = Array.from({ length: engine.spec.k }, (_, i) => i);
  const k = density <= 0 ? 0 : Math.max(1, Math.floor(density * n));
  if (k === 0) return models.map(() => undefined);
  for (const i of models) {
    const c = engine.counts(i);
    c.hi.fill(0);
    c.lo.fill(0);
  }
  await pass((set, _s, len) => {
    for (const i of models) engine.histHi(set, i, len);
  });
  const hi = models.map((i) => cutBin(engine.counts(i).hi, k, 0));
  await pass((set, _s, len) => {
    for (const i of models) engine.histLo(set, i, len, hi[i]!.bin);
  });
  return models.map((i) => {
    const lo = cutBin(engine.counts(i).lo, k, hi[i]!.above);
    return { threshold: ((hi[i]!.bin << 16) | lo.bin) >>> 0, ties: k - lo.above };
  });
}

/** Write model i's mask for the chunk in set `set`: its magnitude cut (TIES) or its next Bernoulli draws (DARE). */
function drawMasks(plan: Bf16Plan, cuts: Array<Cut | undefined>, set: number, len: number, density: number): void {
  const { engine } = plan;
  if (plan.trim) {
    cuts.forEach((c, i) => {
      if (c) engine.cutMask(set, i, len, c.threshold);
    });
  }
  for (const i of plan.masked) engine.drawMask(i, len, density);
}

/** Reset the mask state to the start of the tensor: ties still to keep at each cut, DARE streams at their seeds. */
function startMasks(plan: Bf16Plan, cuts: Array<Cut | undefined>, name: string, seed: number): void {
  cuts.forEach((c, i) => {
    if (c) plan.engine.setTies(i, c.ties);
    else plan.engine.fillMask(i, false);
  });
  for (const i of plan.masked) plan.engine.setRngState(i, seededState(seed, name, i));
}

export async function mergeBf16(name: string, p: TensorMergeParams, plan: Bf16Plan, write: (start: number, data: MergedChunk) => Promise<void>): Promise<void> {
  const { engine, values } = plan;
  const { chunk, density } = p;
  const n = plan.inputs[0]!.info(name).numel;
  const pass = passes(name, plan, chunk);
  if (p.method === "slerp") {
    const acc = { sumAA: 0, sumBB: 0, sumAB: 0 };
    await pass((set, _s, len) => engine.sums(set, len, acc));
    values.coef = slerpCoefficients({ ...acc, t: p.t });
  }
  const cuts = plan.trim ? await findCuts(plan, pass, n, density) : [];
  if (plan.l1) {
    // First pass over the same masks: the dense and kept L1 norms, in element order (as `deltaScale` sums).
    const norms = Array.from({ length: engine.spec.k }, () => ({ before: 0, after: 0 }));
    startMasks(plan, cuts, name, p.seed);
    await pass((set, _s, len) => {
      drawMasks(plan, cuts, set, len, density);
      norms.forEach((acc, i) => engine.l1Norms(set, i, len, acc));
    });
    values.scales = norms.map((nm) => {
      const s = deltaScale("l1", density, undefined, undefined, nm);
      return s !== undefined && "mul" in s ? s.mul : 1;
    });
  }
  engine.setValues(values);
  startMasks(plan, cuts, name, p.seed);
  let pendingWrite: Promise<void> = Promise.resolve();
  let prev: Uint8Array | undefined;
  await pass(async (set, s, len) => {
    drawMasks(plan, cuts, set, len, density);
    // Out of the engine's memory into a buffer of its own: a worker transfers it to the writing thread.
    const out = new Uint8Array(takeBuffer(2 * chunk), 0, 2 * len);
    out.set(engine.mix(set, len));
    await pendingWrite;
    if (prev && prev.buffer.byteLength > 0) recycleBuffer(prev.buffer as ArrayBuffer);
    prev = out;
    pendingWrite = write(s, out);
  });
  await pendingWrite;
  if (prev && prev.buffer.byteLength > 0) recycleBuffer(prev.buffer as ArrayBuffer);
}

/**
 * Output buffers once written, kept for the next chunks: fresh ones would each cost their page faults again.
 * A worker gets its buffers back from the writing thread (transferred back with the acknowledgement).
 */
const spare: ArrayBuffer[] = [];

function takeBuffer(bytes: number): ArrayBuffer {
  const i = spare.findIndex((b) => b.byteLength >= bytes);
  return i >= 0 ? spare.splice(i, 1)[0]! : (Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer);
}

/** Hand a written output buffer back for reuse (at most a few are kept). */
export function recycleBuffer(buf: ArrayBuffer): void {
  if (spare.length < 4 && buf.byteLength > 0) spare.push(buf);
}
