import { MergeInputError } from "./errors.js";
import type { Rng } from "./seeded-rng.js";
import { bernoulliMask, topKMask, type RescaleMode } from "./sparsify.js";

const f = Math.fround;

function sameLength(arrays: ArrayLike<number>[], field: string): number {
  const n = arrays[0]?.length ?? 0;
  arrays.forEach((a, i) => {
    if (a.length !== n) throw new MergeInputError(`length ${a.length} differs from ${n}`, { field: `${field}[${i}]` });
  });
  return n;
}

/** Task vector τ = θ_model − θ_base, elementwise in float32. */
export function taskVector(opts: { model: Float32Array; base: Float32Array }): Float32Array {
  sameLength([opts.model, opts.base], "model");
  const out = new Float32Array(opts.base.length);
  for (let i = 0; i < out.length; i++) out[i] = opts.model[i]! - opts.base[i]!;
  return out;
}

/** How each task vector is sparsified before mixing. */
export type Sparsification =
  | { method: "none" }
  | { method: "magnitude"; density: number; rescale?: "none" | "l1" }
  | { method: "bernoulli"; density: number; rescale?: RescaleMode; rng: (modelIndex: number) => Rng };

export interface TaskArithmeticOptions {
  base: Float32Array;
  models: Float32Array[];
  /** One weight per model. */
  weights: number[];
  /** @default {method: "none"} */
  sparsify?: Sparsification;
  /** TIES sign election ("sum" of weighted deltas, ≥ 0 counts as +) and disjoint mean. @default "none" */
  consensus?: "sum" | "none";
  /** Divide by the sum of (agreeing) weights. @default false */
  normalize?: boolean;
  /** Scale of the mixed delta. @default 1 */
  lambda?: number;
}

/** Per-model post-mask scaling of a sparsified task vector: divide by the keep-probability, or multiply. */
export type DeltaScale = { div: number } | { mul: number } | undefined;

export interface MixChunkOptions {
  base: Float32Array;
  models: Float32Array[];
  weights: number[];
  /** Per model keep-mask for these elements (undefined = keep all). */
  masks?: ReadonlyArray<Uint8Array | undefined>;
  scales?: ReadonlyArray<DeltaScale>;
  consensus: "sum" | "none";
  normalize: boolean;
  lambda: number;
  /** Where to write; a new array when absent. */
  out?: Float32Array;
}

/**
 * The elementwise core of task arithmetic, shared by the in-memory operators and the streaming checkpoint merge
 * (so both round identically): per element, in float32 and mergekit's order, d_i = w_i·scale(mask_i·(θ_i − θ_b));
 * with consensus keep d_i whose sign equals sign(Σ d_i) (≥ 0 → +; zeros never agree) and divide by the kept
 * weights, else divide by Σ w_i (a sum below 1e-8 counts as 1); θ_b + λ·mix.
 */
export function mixChunk(opts: MixChunkOptions): Float32Array {
  const { base, models } = opts;
  const n = base.length;
  const w = opts.weights.map(f);
  const out = opts.out ?? new Float32Array(n);
  const lambda = f(opts.lambda);
  let wsum = 0;
  for (const x of w) wsum = f(wsum + x);
  if (Math.abs(wsum) < 1e-8) wsum = 1;
  const consensus = opts.consensus === "sum";
  const masks = opts.masks ?? [];
  const scales = opts.scales ?? [];
  // Block by block (the scratch arrays stay in cache), model by model inside a block (tight, monomorphic
  // loops); Float32Array stores round like torch's float32 ops. The first model initialises the sum (0 + y,
  // as when adding to zeros).
  const sum = scratch(0);
  const mix = scratch(1);
  const divisor = scratch(2);
  const ds: Float32Array[] = [];
  for (let i = 0; i < models.length; i++) ds.push(scratch(3 + i));
  for (let lo = 0; lo < n; lo += BLOCK) {
    const len = Math.min(BLOCK, n - lo);
    for (let i = 0; i < models.length; i++) {
      const d = ds[i]!;
      weightedDelta(models[i]!, base, masks[i], scales[i], w[i]!, d, lo, len);
      if (i === 0) for (let j = 0; j < len; j++) sum[j] = 0 + d[j]!;
      else for (let j = 0; j < len; j++) sum[j] = sum[j]! + d[j]!;
    }
    if (models.length === 0) sum.fill(0);
    if (consensus) {
      mix.fill(0, 0, len);
      divisor.fill(0, 0, len);
      for (let i = 0; i < models.length; i++) {
        const d = ds[i]!;
        const wi = w[i]!;
        for (let j = 0; j < len; j++) {
          const x = d[j]!;
          // sign(d) equals the elected sign (sum ≥ 0 → +1): zeros never agree.
          if (sum[j]! >= 0 ? x > 0 : x < 0) {
            mix[j] = mix[j]! + x;
            divisor[j] = divisor[j]! + wi;
          }
        }
      }
      const norm = opts.normalize;
      for (let j = 0; j < len; j++) {
        let v = mix[j]!;
        if (norm) v = f(v / (divisor[j] === 0 ? 1 : divisor[j]!));
        if (lambda !== 1) v = f(v * lambda);
        out[lo + j] = base[lo + j]! + v;
      }
    } else if (opts.normalize) {
      if (lambda !== 1) for (let j = 0; j < len; j++) out[lo + j] = base[lo + j]! + f(f(sum[j]! / wsum) * lambda);
      else for (let j = 0; j < len; j++) out[lo + j] = base[lo + j]! + f(sum[j]! / wsum);
    } else if (lambda !== 1) for (let j = 0; j < len; j++) out[lo + j] = base[lo + j]! + f(sum[j]! * lambda);
    else for (let j = 0; j < len; j++) out[lo + j] = base[lo + j]! + sum[j]!;
  }
  return out;
}

/** Elements per block of mixChunk: its scratch arrays (a few per model) stay in cache. */
const BLOCK = 4096;
/** Per-thread scratch blocks of mixChunk, allocated once. */
const scratchArrays: Float32Array[] = [];
function scratch(slot: number): Float32Array {
  return (scratchArrays[slot] ??= new Float32Array(BLOCK));
}

/**
 * d[j] = f(w·scale(mask·(m − b))) for elements [lo, lo + len), one loop per case so the per-element path
 * carries no mode tests.
 */
function weightedDelta(m: Float32Array, b: Float32Array, mask: Uint8Array | undefined, s: DeltaScale, wi: number, d: Float32Array, lo: number, len: number): void {
  const div = s !== undefined && "div" in s ? f(s.div) : 0;
  const mul = s !== undefined && "mul" in s ? f(s.mul) : 0;
  // The store rounds the product once; masked-out entries give 0·w (−0 for a negative weight, as before).
  if (mask === undefined) {
    if (div !== 0) for (let j = 0; j < len; j++) d[j] = f(f(m[lo + j]! - b[lo + j]!) / div) * wi;
    else if (mul !== 0) for (let j = 0; j < len; j++) d[j] = f(f(m[lo + j]! - b[lo + j]!) * mul) * wi;
    else for (let j = 0; j < len; j++) d[j] = f(m[lo + j]! - b[lo + j]!) * wi;
  } else if (div !== 0) for (let j = 0; j < len; j++) d[j] = (mask[lo + j] !== 0 ? f(f(m[lo + j]! - b[lo + j]!) / div) : 0) * wi;
  else if (mul !== 0) for (let j = 0; j < len; j++) d[j] = (mask[lo + j] !== 0 ? f(f(m[lo + j]! - b[lo + j]!) * mul) : 0) * wi;
  else for (let j = 0; j < len; j++) d[j] = (mask[lo + j] !== 0 ? f(m[lo + j]! - b[lo + j]!) : 0) * wi;
}

/**
 * Generalised task arithmetic as mergekit computes it: τ_i = θ_i − θ_b; sparsify τ_i; d_i = w_i·τ_i; optional
 * TIES sign consensus and disjoint mean; θ_b + λ·mix (see {@link mixChunk} for the exact per-element rule).
 * @throws {MergeInputError} on length mismatches or a weight count that differs from the model count.
 */
export function mergeTaskVectors(opts: TaskArithmeticOptions): Float32Array {
  const { base, models, weights } = opts;
  if (weights.length !== models.length) throw new MergeInputError(`${weights.length} weights for ${models.length} models`, { field: "weights" });
  const n = sameLength([base, ...models], "models");
  const sp = opts.sparsify ?? { method: "none" };
  const masks: Array<Uint8Array | undefined> = [];
  const scales: DeltaScale[] = [];
  models.forEach((m, i) => {
    if (sp.method === "none" || sp.density >= 1) {
      masks.push(undefined);
      scales.push(undefined);
      return;
    }
    const tau = taskVector({ model: m, base });
    let mask: Uint8Array;
    if (sp.method === "magnitude") {
      mask = sp.density <= 0 || n === 0 ? new Uint8Array(n) : topKMask(tau, Math.max(1, Math.floor(sp.density * n)));
    } else {
      mask = bernoulliMask({ length: n, p: sp.density, rng: sp.rng(i) });
    }
    masks.push(mask);
    const mode = sp.rescale ?? (sp.method === "bernoulli" ? "inverse_keep" : "none");
    scales.push(deltaScale(mode, sp.density, tau, mask));
  });
  return mixChunk({
    base,
    models,
    weights,
    masks,
    scales,
    consensus: opts.consensus ?? "none",
    normalize: opts.normalize ?? false,
    lambda: opts.lambda ?? 1,
  });
}

/** The scale a rescale mode implies for one sparsified task vector (l1 needs the dense and kept L1 norms). */
export function deltaScale(mode: RescaleMode, density: number, tau?: Float32Array, mask?: Uint8Array, norms?: { before: number; after: number }): DeltaScale {
  if (mode === "inverse_keep") return density > 0 ? { div: density } : undefined;
  if (mode === "l1") {
    let before = norms?.before ?? 0;
    let after = norms?.after ?? 0;
    if (!norms && tau && mask) {
      for (let i = 0; i < tau.length; i++) {
        const a = Math.abs(tau[i]!);
        before += a;
        if (mask[i]) after += a;
      }
    }
    // mergekit's guard: leave tiny norms alone.
    return before >= 1e-7 && after >= 1e-7 ? { mul: before / after } : undefined;
  }
  return undefined;
}

/**
 * TIES-merging: trim each task vector to its top-`density` magnitudes, elect the sign per element, and take the
 * weighted mean of the agreeing entries (disjoint mean).
 * @default normalize true (mergekit's default for `ties`)
 */
export function tiesMerge(opts: { base: Float32Array; models: Float32Array[]; weights: number[]; density: number; normalize?: boolean; lambda?: number }): Float32Array {
  return mergeTaskVectors({
    base: opts.base,
    models: opts.models,
    weights: opts.weights,
    sparsify: { method: "magnitude", density: opts.density },
    consensus: "sum",
    normalize: opts.normalize ?? true,
    ...(opts.lambda !== undefined ? { lambda: opts.lambda } : {}),
  });
}

/**
 * Linear merge Σ w_i θ_i (÷ Σ w_i when normalising), accumulated in float32 in model order like mergekit's
 * `addcmul_` loop, whose CPU kernel fuses each multiply-add (one rounding per model: the float32 × float32
 * product is exact in float64).
 * @default normalize true
 */
export function linearMerge(opts: { tensors: Float32Array[]; weights: number[]; normalize?: boolean; out?: Float32Array }): Float32Array {
  const { tensors } = opts;
  if (opts.weights.length !== tensors.length) throw new MergeInputError(`${opts.weights.length} weights for ${tensors.length} tensors`, { field: "weights" });
  const n = sameLength(tensors, "tensors");
  const w = opts.weights.map(f);
  const out = opts.out ?? new Float32Array(n);
  const t0 = tensors[0];
  const w0 = w[0] ?? 0;
  if (t0) for (let j = 0; j < n; j++) out[j] = t0[j]! * w0;
  for (let i = 1; i < tensors.length; i++) {
    const t = tensors[i]!;
    const wi = w[i]!;
    for (let j = 0; j < n; j++) out[j] = out[j]! + t[j]! * wi;
  }
  if (opts.normalize ?? true) {
    let s = 0;
    for (const x of w) s = f(s + x);
    if (s !== 1) for (let j = 0; j < n; j++) out[j] = out[j]! / s;
  }
  return out;
}
