import { Bf16Engine, type MixSpec, type MixValues } from "./bf16-kernels.js";
import type { Checkpoint } from "./checkpoint.js";
import { uninitF32, type FloatDtype } from "./dtype.js";
import { seededRng, seededState } from "./seeded-rng.js";
import { slerpApply, slerpCoefficients, slerpSums } from "./slerp.js";
import { bernoulliMask, type RescaleMode } from "./sparsify.js";
import { TopKCut } from "./streaming-top-k.js";
import { deltaScale, linearMerge, mixChunk, type DeltaScale } from "./task-arithmetic.js";

/** The resolved, serialisable parameters of one merge (what a worker thread needs besides the input paths). */
export interface TensorMergeParams {
  method: "task_arithmetic" | "ties" | "dare_ties" | "dare_linear" | "linear" | "slerp";
  weights: number[];
  density: number;
  t: number;
  normalize: boolean;
  lambda: number;
  rescale: RescaleMode;
  seed: number;
  chunk: number;
  /** Whether `ref` is a base model (false only for `linear` without a base, where `ref` is models[0]). */
  hasBase: boolean;
  /** Output dtype of float tensors (default: the reference tensor's own). */
  outDtype?: FloatDtype | undefined;
}

/** A merged chunk: float32 values, or bytes already encoded in the output dtype. */
export type MergedChunk = Float32Array | Uint8Array;

const f = Math.fround;

/**
 * Merge one float tensor chunk by chunk and hand each merged chunk to `write` (awaited before the next chunk is
 * handed over, so at most one write is pending). The result depends only on the tensor and the parameters,
 * never on which thread runs it or in which order tensors come: DARE streams are keyed by (seed, name, model).
 */
export async function mergeTensor(
  name: string,
  p: TensorMergeParams,
  ref: Checkpoint,
  modelCks: readonly Checkpoint[],
  write: (start: number, data: MergedChunk) => Promise<void>,
): Promise<void> {
  const fast = bf16Plan(name, p, ref, modelCks);
  if (fast) return mergeBf16(name, p, fast, write);
  const { method, weights, density, t, normalize, lambda, rescale, seed, chunk } = p;
  const n = ref.info(name).numel;
  const baseCk = p.hasBase ? ref : undefined;
  const read = (ck: Checkpoint, start: number) => ck.readF32Range(name, start, Math.min(chunk, n - start));
  async function* deltas(i: number): AsyncIterable<Float32Array> {
    for (let s = 0; s < n; s += chunk) {
      const [b, m] = await Promise.all([read(baseCk!, s), read(modelCks[i]!, s)]);
      for (let j = 0; j < m.length; j++) m[j] = m[j]! - b[j]!;
      yield m;
    }
  }

  // Per-model mask makers and scales for the task-arithmetic family.
  const maskers: Array<((len: number, delta: () => Float32Array) => Uint8Array) | undefined> = [];
  const scales: DeltaScale[] = [];
  let slerpCoef: [number, number] = [1 - t, t];
  const dareLike = method === "dare_ties" || method === "dare_linear";
  if ((method === "ties" || dareLike) && density < 1) {
    for (let i = 0; i < modelCks.length; i++) {
      if (method === "ties") {
        const k = density <= 0 || n === 0 ? 0 : Math.max(1, Math.floor(density * n));
        const cut = k > 0 ? await TopKCut.find(() => deltas(i), k) : undefined;
        // One delta and one mask array per model, reused chunk after chunk (a chunk's masks die with it).
        let keep = new Uint8Array(0);
        maskers.push((len, delta) => {
          if (!cut) return new Uint8Array(len);
          if (keep.length !== len) keep = new Uint8Array(len);
          return cut.mask(delta(), keep);
        });
        scales.push(undefined);
      } else {
        const rng = seededRng(seed, name, i);
        maskers.push((len) => bernoulliMask({ length: len, p: density, rng }));
        if (rescale === "l1") {
          // First pass with a twin stream: the dense and kept L1 norms.
          const twin = seededRng(seed, name, i);
          let before = 0;
          let after = 0;
          for await (const d of deltas(i)) {
            const m = bernoulliMask({ length: d.length, p: density, rng: twin });
            for (let j = 0; j < d.length; j++) {
              const a = Math.abs(d[j]!);
              before += a;
              if (m[j]) after += a;
            }
          }
          scales.push(deltaScale("l1", density, undefined, undefined, { before, after }));
        } else scales.push(deltaScale(rescale, density));
      }
    }
  }
  if (method === "slerp") {
    const acc = { sumAA: 0, sumBB: 0, sumAB: 0 };
    for (let s = 0; s < n; s += chunk) {
      const [a, b] = await Promise.all([read(ref, s), read(modelCks[0]!, s)]);
      slerpSums(a, b, acc);
    }
    slerpCoef = slerpCoefficients({ ...acc, t });
  }

  const readSet = (s: number) =>
    Promise.all([baseCk ? read(baseCk, s) : Promise.resolve(undefined), ...modelCks.map((ck) => read(ck, s))]);
  let next = n > 0 ? readSet(0) : undefined;
  let pendingWrite: Promise<void> = Promise.resolve();
  let deltaBuf = new Float32Array(0);
  if (n === 0) await write(0, new Float32Array(0));
  for (let s = 0; s < n; s += chunk) {
    const [b, ...ms] = await next!;
    next = s + chunk < n ? readSet(s + chunk) : undefined;
    let merged: Float32Array;
    // Outputs are fresh (a worker transfers them away) but need no zeroing: every element is written.
    const out = uninitF32(ms[0]!.length);
    if (method === "linear") merged = linearMerge({ tensors: ms, weights, normalize, out });
    else if (method === "slerp") merged = slerpApply(b!, ms[0]!, slerpCoef, out);
    else {
      const masks = maskers.map((mk, i) =>
        mk?.(b!.length, () => {
          if (deltaBuf.length !== b!.length) deltaBuf = new Float32Array(b!.length);
          const d = deltaBuf;
          const m = ms[i]!;
          for (let j = 0; j < d.length; j++) d[j] = m[j]! - b![j]!;
          return d;
        }),
      );
      merged = mixChunk({
        base: b!,
        models: ms,
        weights,
        masks,
        scales,
        consensus: method === "ties" || method === "dare_ties" ? "sum" : "none",
        normalize,
        lambda,
        out,
      });
    }
    await pendingWrite;
    pendingWrite = write(s, merged);
  }
  await pendingWrite;
}

interface Bf16Plan {
  engine: Bf16Engine;
  inputs: Checkpoint[];
  values: MixValues;
  /** Models whose keep-mask is drawn (DARE). */
  masked: number[];
}

/**
 * The bf16 → bf16 path: when every input of this tensor and the output are bf16, the method is one the Wasm
 * kernels cover (all but TIES and DARE with L1 rescale) and the runtime has Wasm SIMD. Same arithmetic, same
 * bits as the float32 path, without the float32 arrays.
 */
function bf16Plan(name: string, p: TensorMergeParams, ref: Checkpoint, modelCks: readonly Checkpoint[]): Bf16Plan | undefined {
  const { method, density } = p;
  if ((p.outDtype ?? ref.info(name).dtype) !== "BF16" || method === "ties") return undefined;
  const dareLike = method === "dare_ties" || method === "dare_linear";
  const drop = dareLike && density < 1;
  if (drop && p.rescale === "l1") return undefined;
  const inputs = method === "linear" ? [...modelCks] : method === "slerp" ? [ref, modelCks[0]!] : [ref, ...modelCks];
  if (inputs.some((ck) => ck.info(name).dtype !== "BF16") || ref.info(name).numel === 0) return undefined;
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
    const scale = drop ? deltaScale(p.rescale, density) : undefined;
    const kind = scale === undefined ? undefined : "div" in scale ? ("div" as const) : ("mul" as const);
    spec = {
      kind: "task",
      k,
      masked: modelCks.map(() => drop),
      scale: modelCks.map(() => kind),
      consensus: method === "dare_ties",
      normalize: p.normalize,
      lambda: lambda !== 1,
    };
    values.scales = modelCks.map(() => (scale === undefined ? 1 : "div" in scale ? scale.div : scale.mul));
    values.wsum = Math.abs(wsum) < 1e-8 ? 1 : wsum;
    values.lambda = lambda;
  }
  const engine = Bf16Engine.get(spec, p.chunk);
  if (!engine) return undefined;
  return { engine, inputs, values, masked: drop ? modelCks.map((_, i) => i) : [] };
}

async function mergeBf16(name: string, p: TensorMergeParams, plan: Bf16Plan, write: (start: number, data: MergedChunk) => Promise<void>): Promise<void> {
  const { engine, inputs, values } = plan;
  const { chunk } = p;
  const n = inputs[0]!.info(name).numel;
  // Two buffer sets: the next chunk is read into one while the other is merged.
  const readSet = (set: number, s: number) => {
    const len = Math.min(chunk, n - s);
    return Promise.all(inputs.map((ck, i) => ck.readRangeInto(name, s, len, engine.input(set, i))));
  };
  if (p.method === "slerp") {
    const acc = { sumAA: 0, sumBB: 0, sumAB: 0 };
    let next = readSet(0, 0);
    for (let s = 0, set = 0; s < n; s += chunk, set ^= 1) {
      await next;
      if (s + chunk < n) next = readSet(set ^ 1, s + chunk);
      engine.sums(set, Math.min(chunk, n - s), acc);
    }
    values.coef = slerpCoefficients({ ...acc, t: p.t });
  }
  engine.setValues(values);
  for (const i of plan.masked) engine.setRngState(i, seededState(p.seed, name, i));
  let next = readSet(0, 0);
  let pendingWrite: Promise<void> = Promise.resolve();
  let prev: Uint8Array | undefined;
  for (let s = 0, set = 0; s < n; s += chunk, set ^= 1) {
    const len = Math.min(chunk, n - s);
    await next;
    if (s + chunk < n) next = readSet(set ^ 1, s + chunk);
    for (const i of plan.masked) engine.drawMask(i, len, p.density);
    // Out of the engine's memory into a buffer of its own: a worker transfers it to the writing thread.
    const out = new Uint8Array(takeBuffer(2 * chunk), 0, 2 * len);
    out.set(engine.mix(set, len));
    await pendingWrite;
    if (prev && prev.buffer.byteLength > 0) recycleBuffer(prev.buffer as ArrayBuffer);
    prev = out;
    pendingWrite = write(s, out);
  }
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
