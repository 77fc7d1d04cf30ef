import { MergeInputError } from "./errors.js";
import type { Rng } from "./seeded-rng.js";
import { dare, magnitudePrune, type RescaleMode } from "./sparsify.js";

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

/**
 * Generalised task arithmetic as mergekit computes it, per element in float32 in the same operation order:
 * τ_i = θ_i − θ_b; sparsify τ_i; d_i = w_i·τ_i; with consensus keep d_i where sign(d_i) equals the sign of Σ d_i
 * (zeros never agree); mix = Σ kept d_i, divided by Σ kept w_i (or Σ w_i) when normalising (0 → 1); θ_b + λ·mix.
 * @throws {MergeInputError} on length mismatches or a weight count that differs from the model count.
 */
export function mergeTaskVectors(opts: TaskArithmeticOptions): Float32Array {
  const { base, models, weights } = opts;
  if (weights.length !== models.length) throw new MergeInputError(`${weights.length} weights for ${models.length} models`, { field: "weights" });
  const n = sameLength([base, ...models], "models");
  const sp = opts.sparsify ?? { method: "none" };
  const w = weights.map(f);
  const deltas = models.map((m, i) => {
    let d = taskVector({ model: m, base });
    if (sp.method === "magnitude") d = magnitudePrune({ delta: d, density: sp.density, rescale: sp.rescale ?? "none" });
    else if (sp.method === "bernoulli") d = dare({ delta: d, density: sp.density, rng: sp.rng(i), rescale: sp.rescale ?? "inverse_keep" });
    for (let j = 0; j < n; j++) d[j] = d[j]! * w[i]!;
    return d;
  });
  const consensus = opts.consensus ?? "none";
  const normalize = opts.normalize ?? false;
  const lambda = f(opts.lambda ?? 1);
  const out = new Float32Array(n);
  const k = deltas.length;
  let wsum = 0;
  for (const x of w) wsum = f(wsum + x);
  if (Math.abs(wsum) < 1e-8) wsum = 1;
  for (let j = 0; j < n; j++) {
    let mix = 0;
    if (consensus === "sum") {
      let s = 0;
      for (let i = 0; i < k; i++) s = f(s + deltas[i]![j]!);
      const major = s >= 0 ? 1 : -1;
      let div = 0;
      for (let i = 0; i < k; i++) {
        const d = deltas[i]![j]!;
        if (Math.sign(d) === major) {
          mix = f(mix + d);
          div = f(div + w[i]!);
        }
      }
      if (normalize) mix = f(mix / (div === 0 ? 1 : div));
    } else {
      for (let i = 0; i < k; i++) mix = f(mix + deltas[i]![j]!);
      if (normalize) mix = f(mix / wsum);
    }
    if (lambda !== 1) mix = f(mix * lambda);
    out[j] = base[j]! + mix;
  }
  return out;
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
 * Linear merge Σ w_i θ_i (÷ Σ w_i when normalising), accumulated in float32 in model order like mergekit.
 * @default normalize true
 */
export function linearMerge(opts: { tensors: Float32Array[]; weights: number[]; normalize?: boolean }): Float32Array {
  const { tensors } = opts;
  if (opts.weights.length !== tensors.length) throw new MergeInputError(`${opts.weights.length} weights for ${tensors.length} tensors`, { field: "weights" });
  const n = sameLength(tensors, "tensors");
  const w = opts.weights.map(f);
  const out = new Float32Array(n);
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    const wi = w[i]!;
    for (let j = 0; j < n; j++) out[j] = out[j]! + f(t[j]! * wi);
  }
  if (opts.normalize ?? true) {
    let s = 0;
    for (const x of w) s = f(s + x);
    for (let j = 0; j < n; j++) out[j] = out[j]! / s;
  }
  return out;
}
