import type { Checkpoint } from "./checkpoint.js";
import { uninitF32, type FloatDtype } from "./dtype.js";
import { bf16Plan, mergeBf16 } from "./merge-bf16.js";
import { seededRng } from "./seeded-rng.js";
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
  /** false: always the float32 JavaScript path, the reference the bf16 Wasm kernels are tested against. @default true */
  wasm?: boolean | undefined;
}

/** A merged chunk: float32 values, or bytes already encoded in the output dtype. */
export type MergedChunk = Float32Array | Uint8Array;

/** Chunked reads of one tensor across the checkpoints of a merge. */
interface TensorSource {
  name: string;
  n: number;
  chunk: number;
  ref: Checkpoint;
  baseCk: Checkpoint | undefined;
  modelCks: readonly Checkpoint[];
  read(ck: Checkpoint, start: number): Promise<Float32Array>;
  /** Model i's deltas θ_i − θ_b, chunk by chunk (a fresh stream per call). */
  deltas(i: number): AsyncIterable<Float32Array>;
}

type Masker = (len: number, delta: () => Float32Array) => Uint8Array;

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
  const src = tensorSource(name, p, ref, modelCks);
  const { maskers, scales } = await taskMasks(p, src);
  const slerpCoef = p.method === "slerp" ? await slerpCoefficientsOf(p.t, src) : ([1 - p.t, p.t] as [number, number]);
  await mergeChunks(p, src, maskers, scales, slerpCoef, write);
}

function tensorSource(name: string, p: TensorMergeParams, ref: Checkpoint, modelCks: readonly Checkpoint[]): TensorSource {
  const { chunk } = p;
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
  return { name, n, chunk, ref, baseCk, modelCks, read, deltas };
}

/** Per-model mask makers and scales for the task-arithmetic family (none where nothing is sparsified). */
async function taskMasks(p: TensorMergeParams, src: TensorSource): Promise<{ maskers: Array<Masker | undefined>; scales: DeltaScale[] }> {
  const maskers: Array<Masker | undefined> = [];
  const scales: DeltaScale[] = [];
  const dareLike = p.method === "dare_ties" || p.method === "dare_linear";
  if ((p.method !== "ties" && !dareLike) || p.density >= 1) return { maskers, scales };
  for (let i = 0; i < src.modelCks.length; i++) {
    const { masker, scale } = p.method === "ties" ? await tiesMask(p, src, i) : await dareMask(p, src, i);
    maskers.push(masker);
    scales.push(scale);
  }
  return { maskers, scales };
}

/** TIES: keep model i's top `density` share of |delta| (one streaming cut per model). */
async function tiesMask(p: TensorMergeParams, src: TensorSource, i: number): Promise<{ masker: Masker; scale: DeltaScale }> {
  const { density, rescale } = p;
  const n = src.n;
  const k = density <= 0 || n === 0 ? 0 : Math.max(1, Math.floor(density * n));
  const cut = k > 0 ? await TopKCut.find(() => src.deltas(i), k) : undefined;
  const scale = rescale === "l1" ? await cutL1Scale(cut, src.deltas(i), density) : undefined;
  // One delta and one mask array per model, reused chunk after chunk (a chunk's masks die with it).
  let keep = new Uint8Array(0);
  const masker: Masker = (len, delta) => {
    if (!cut) return new Uint8Array(len);
    if (keep.length !== len) keep = new Uint8Array(len);
    return cut.mask(delta(), keep);
  };
  return { masker, scale };
}

/** DARE: Bernoulli keep-masks from the (seed, name, model) stream; the L1 rescale reads a twin stream first. */
async function dareMask(p: TensorMergeParams, src: TensorSource, i: number): Promise<{ masker: Masker; scale: DeltaScale }> {
  const { seed, density, rescale } = p;
  const rng = seededRng(seed, src.name, i);
  const masker: Masker = (len) => bernoulliMask({ length: len, p: density, rng });
  if (rescale !== "l1") return { masker, scale: deltaScale(rescale, density) };
  // First pass with a twin stream: the dense and kept L1 norms.
  const twin = seededRng(seed, src.name, i);
  let before = 0;
  let after = 0;
  for await (const d of src.deltas(i)) {
    const m = bernoulliMask({ length: d.length, p: density, rng: twin });
    for (let j = 0; j < d.length; j++) {
      const a = Math.abs(d[j]!);
      before += a;
      if (m[j]) after += a;
    }
  }
  return { masker, scale: deltaScale("l1", density, undefined, undefined, { before, after }) };
}

/** SLERP's two coefficients from one pass of norms and dot product over the reference and model 0. */
async function slerpCoefficientsOf(t: number, src: TensorSource): Promise<[number, number]> {
  const acc = { sumAA: 0, sumBB: 0, sumAB: 0 };
  for (let s = 0; s < src.n; s += src.chunk) {
    const [a, b] = await Promise.all([src.read(src.ref, s), src.read(src.modelCks[0]!, s)]);
    slerpSums(a, b, acc);
  }
  return slerpCoefficients({ ...acc, t });
}

/** The merging pass: the next chunk is read while this one merges, and at most one write is pending. */
async function mergeChunks(
  p: TensorMergeParams,
  src: TensorSource,
  maskers: Array<Masker | undefined>,
  scales: DeltaScale[],
  slerpCoef: [number, number],
  write: (start: number, data: MergedChunk) => Promise<void>,
): Promise<void> {
  const { n, chunk, baseCk, modelCks, read } = src;
  const readSet = (s: number) =>
    Promise.all([baseCk ? read(baseCk, s) : Promise.resolve(undefined), ...modelCks.map((ck) => read(ck, s))]);
  let next = n > 0 ? readSet(0) : undefined;
  let pendingWrite: Promise<void> = Promise.resolve();
  const deltaBuf = { d: new Float32Array(0) };
  if (n === 0) await write(0, new Float32Array(0));
  for (let s = 0; s < n; s += chunk) {
    const [b, ...ms] = await next!;
    next = s + chunk < n ? readSet(s + chunk) : undefined;
    const merged = mergeChunk(p, b, ms, maskers, scales, slerpCoef, deltaBuf);
    await pendingWrite;
    pendingWrite = write(s, merged);
  }
  await pendingWrite;
}

/** One chunk of the merge in float32 (`deltaBuf` is the delta scratch the TIES maskers share). */
function mergeChunk(
  p: TensorMergeParams,
  b: Float32Array | undefined,
  ms: Float32Array[],
  maskers: Array<Masker | undefined>,
  scales: DeltaScale[],
  slerpCoef: [number, number],
  deltaBuf: { d: Float32Array },
): Float32Array {
  const { method, weights, normalize, lambda } = p;
  // Outputs are fresh (a worker transfers them away) but need no zeroing: every element is written.
  const out = uninitF32(ms[0]!.length);
  if (method === "linear") return linearMerge({ tensors: ms, weights, normalize, out });
  if (method === "slerp") return slerpApply(b!, ms[0]!, slerpCoef, out);
  const masks = maskers.map((mk, i) =>
    mk?.(b!.length, () => {
      if (deltaBuf.d.length !== b!.length) deltaBuf.d = new Float32Array(b!.length);
      const d = deltaBuf.d;
      const m = ms[i]!;
      for (let j = 0; j < d.length; j++) d[j] = m[j]! - b![j]!;
      return d;
    }),
  );
  return mixChunk({
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

/**
 * TIES with the L1 rescale: one pass over the deltas with the cut's masks for the dense and kept L1 norms
 * (float64, element order), then the cut starts over for the merging pass.
 */
async function cutL1Scale(cut: TopKCut | undefined, deltas: AsyncIterable<Float32Array>, density: number): Promise<DeltaScale> {
  let before = 0;
  let after = 0;
  let keep = new Uint8Array(0);
  for await (const d of deltas) {
    if (keep.length !== d.length) keep = new Uint8Array(d.length);
    const m = cut ? cut.mask(d, keep) : keep.fill(0);
    for (let j = 0; j < d.length; j++) {
      const a = Math.abs(d[j]!);
      before += a;
      if (m[j]) after += a;
    }
  }
  cut?.restart();
  return deltaScale("l1", density, undefined, undefined, { before, after });
}
