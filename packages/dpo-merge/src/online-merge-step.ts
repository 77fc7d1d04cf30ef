import { MergeInputError } from "./errors.js";
import type { Rng } from "./seeded-rng.js";
import { bernoulliMask, topKMask } from "./sparsify.js";

export type OnlineMergeMethod = "ondare" | "onties";

type Vec = Float64Array | Float32Array | number[];

export interface OnlineMergeStepOptions {
  method: OnlineMergeMethod;
  /** Parameters θ, updated in place. */
  theta: Vec;
  grad: ArrayLike<number>;
  /** Adam first moment m, updated in place. */
  expAvg: Vec;
  /** Adam second moment v, updated in place. */
  expAvgSq: Vec;
  /** The prepared reference task vector (`tau_ref` state, see {@link prepareTau}). */
  tau: ArrayLike<number>;
  /** 1-based step count after this update (the bias-correction t). */
  step: number;
  lr: number;
  /** @default [0.9, 0.999] */
  betas?: [number, number];
  /** @default 1e-8 (HF TrainingArguments' adam_epsilon; the optimizer class default is 1e-6) */
  eps?: number;
  /** Decoupled weight decay, applied after the merged update. @default 0 */
  weightDecay?: number;
  /** Reserve rate: keep-probability (OnDARE) or kept fraction by magnitude (OnTIES). */
  p: number;
  /** Merge weight α of the reference task vector. */
  alpha: number;
  /** Keep-mask of the Adam update (1 = keep). OnDARE draws one from `rng` when absent; OnTIES uses top-k. */
  mask?: ArrayLike<number>;
  rng?: Rng;
  /** Add α·τ and scale Δ by (1−α) (the official `use_merge`). @default true */
  useMerge?: boolean;
  /** The official `rescale` flag: after sparsifying, scale Δ back to its L1 norm. @default false */
  rescale?: boolean;
  /** Clamp of the rescaled Δ (OnDARE only). @default 1 */
  clipVal?: number;
  /** Bias correction of the step size. @default true */
  correctBias?: boolean;
  /**
   * Adam arithmetic. `hf` (the official code, a clone of `transformers.AdamW`): Δ = −lr·√(1−β2^t)/(1−β1^t)·m/(√v+ε)
   * with weight decay applied after the update. `torch` (`torch.optim.AdamW`): Δ = −lr/(1−β1^t)·m/(√v/√(1−β2^t)+ε)
   * with θ·(1−lr·wd) applied before it. They differ in where ε sits and in the decay order.
   * @default "hf"
   */
  adamVariant?: "hf" | "torch";
}

function l1(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]!);
  return s;
}

/**
 * One step of the OnDARE / OnTIES optimizers (Lu et al. 2024) with the official code's semantics, computed in
 * float64 (a reference implementation, not a training kernel):
 *
 * 1. m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; Δ = −lr·√(1−β2^t)/(1−β1^t) · m/(√v + eps). The moments always
 *    see the full gradient; only the applied update is sparsified.
 * 2. OnDARE: Δ ← Δ·mask/p (dropout semantics: keep-probability p, survivors ×1/p);
 *    θ ← θ + α·τ + (1−α)·Δ.
 * 3. OnTIES: Δ ← Δ·topk_p(|Δ|) (no 1/p); the elected sign is sign(τ + Δ) (unweighted, ≥ 0 counts as +); each of
 *    τ and Δ keeps only entries with that sign; θ ← θ + α·τ' + (1−α)·Δ' (no division by agreeing weights).
 * 4. With `rescale`, Δ is first scaled by ‖Δ_dense‖₁/(‖Δ_sparse‖₁ + eps) (OnDARE also clamps it to ±clipVal).
 * 5. Decoupled weight decay last: θ ← θ − lr·wd·θ (`adamVariant: "torch"` switches steps 1 and 5 to
 *    `torch.optim.AdamW` arithmetic, decay first).
 *
 * Without `useMerge` the update is θ ← θ + Δ' (sign-filtered for OnTIES). `theta`, `expAvg` and `expAvgSq` are
 * updated in place and returned.
 * @throws {MergeInputError} on length mismatches, a missing mask and rng for OnDARE, or p outside (0, 1].
 */
export function onlineMergeStep(opts: OnlineMergeStepOptions): { theta: Vec; expAvg: Vec; expAvgSq: Vec; update: Float64Array } {
  const { theta, grad, expAvg, expAvgSq, tau, p, alpha, lr } = opts;
  const n = theta.length;
  for (const [name, a] of [["grad", grad], ["expAvg", expAvg], ["expAvgSq", expAvgSq], ["tau", tau]] as const) {
    if (a.length !== n) throw new MergeInputError(`length ${a.length} differs from theta's ${n}`, { field: name });
  }
  if (!(p > 0 && p <= 1)) throw new MergeInputError(`reserve rate must be in (0, 1], got ${p}`, { code: "BAD_OPTION", field: "p" });
  if (!(opts.step >= 1)) throw new MergeInputError(`step must be >= 1, got ${opts.step}`, { code: "BAD_OPTION", field: "step" });
  const [b1, b2] = opts.betas ?? [0.9, 0.999];
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay ?? 0;
  const torchStyle = opts.adamVariant === "torch";
  const bc1 = opts.correctBias ?? true ? 1 - b1 ** opts.step : 1;
  const bc2 = opts.correctBias ?? true ? 1 - b2 ** opts.step : 1;
  if (torchStyle && wd !== 0) for (let i = 0; i < n; i++) theta[i] = theta[i]! * (1 - lr * wd);

  const delta = new Float64Array(n);
  const stepSize = torchStyle ? lr / bc1 : (lr * Math.sqrt(bc2)) / bc1;
  const sqrtBc2 = Math.sqrt(bc2);
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    expAvg[i] = expAvg[i]! * b1 + (1 - b1) * g;
    expAvgSq[i] = expAvgSq[i]! * b2 + (1 - b2) * g * g;
    const denom = torchStyle ? Math.sqrt(expAvgSq[i]!) / sqrtBc2 + eps : Math.sqrt(expAvgSq[i]!) + eps;
    delta[i] = -stepSize * (expAvg[i]! / denom);
  }
  const before = l1(delta);

  let mask = opts.mask;
  if (mask !== undefined && mask.length !== n) throw new MergeInputError(`mask has ${mask.length} entries for ${n}`, { field: "mask" });
  const useMerge = opts.useMerge ?? true;
  const update = new Float64Array(n);

  if (opts.method === "ondare") {
    if (!mask && p >= 1) mask = new Uint8Array(n).fill(1);
    if (!mask) {
      if (!opts.rng) throw new MergeInputError("OnDARE needs a mask or an rng", { field: "mask" });
      mask = bernoulliMask({ length: n, p, rng: opts.rng });
    }
    // F.dropout(x, 1 − p) scales survivors by 1/(1 − (1 − p)); keep that float expression.
    const keep = 1 - (1 - p);
    for (let i = 0; i < n; i++) delta[i] = mask[i] ? delta[i]! / keep : 0;
    if (opts.rescale && before >= 1e-8) {
      const s = before / (l1(delta) + eps);
      const clip = opts.clipVal ?? 1;
      for (let i = 0; i < n; i++) delta[i] = Math.min(clip, Math.max(-clip, delta[i]! * s));
    }
    for (let i = 0; i < n; i++) update[i] = useMerge ? alpha * tau[i]! + (1 - alpha) * delta[i]! : delta[i]!;
  } else if (opts.method === "onties") {
    // The official magnitude mask leaves the tensor dense when k = floor(p·n) < 1 or p >= 1.
    const k = Math.floor(p * n);
    if (!mask) mask = p >= 1 || k < 1 ? new Uint8Array(n).fill(1) : topKMask(delta, k);
    for (let i = 0; i < n; i++) delta[i] = mask[i] ? delta[i]! : 0;
    if (opts.rescale && before >= 1e-8) {
      const s = before / l1(delta);
      if (Number.isFinite(s)) for (let i = 0; i < n; i++) delta[i] = delta[i]! * s;
    }
    for (let i = 0; i < n; i++) {
      const t = tau[i]!;
      const d = delta[i]!;
      const major = t + d >= 0 ? 1 : -1;
      const tk = Math.sign(t) === major ? t : 0;
      const dk = Math.sign(d) === major ? d : 0;
      update[i] = useMerge ? alpha * tk + (1 - alpha) * dk : dk;
    }
  } else {
    throw new MergeInputError(`unknown method ${String(opts.method)}`, { code: "BAD_OPTION", field: "method" });
  }
  for (let i = 0; i < n; i++) {
    // The official code adds α·τ and (1−α)·Δ as two separate in-place adds; keep that order.
    if (useMerge && opts.method === "ondare") {
      theta[i] = theta[i]! + alpha * tau[i]!;
      theta[i] = theta[i]! + (1 - alpha) * delta[i]!;
    } else {
      theta[i] = theta[i]! + update[i]!;
    }
    if (wd !== 0 && !torchStyle) theta[i] = theta[i]! + -lr * wd * theta[i]!;
  }
  return { theta, expAvg, expAvgSq, update };
}

/**
 * The fixed reference task vector each optimizer keeps (`tau_ref`), built once from the SFT and base weights:
 * OnDARE: τ = sft − base, dropped with keep-probability p (survivors ×1/p), clamped to ±clipVal; the mask is
 * drawn once for the whole run. OnTIES: τ keeps its top ⌊p·n⌋ magnitudes (no clamp; dense when that is < 1),
 * optionally scaled back to its L1 norm.
 * @default clipVal 1, rescale false
 */
export function prepareTau(opts: {
  method: OnlineMergeMethod;
  sft: ArrayLike<number>;
  base: ArrayLike<number>;
  p: number;
  mask?: ArrayLike<number>;
  rng?: Rng;
  clipVal?: number;
  rescale?: boolean;
}): Float64Array {
  const n = opts.sft.length;
  if (opts.base.length !== n) throw new MergeInputError(`length ${opts.base.length} differs from sft's ${n}`, { field: "base" });
  if (!(opts.p > 0 && opts.p <= 1)) throw new MergeInputError(`reserve rate must be in (0, 1], got ${opts.p}`, { code: "BAD_OPTION", field: "p" });
  const tau = new Float64Array(n);
  for (let i = 0; i < n; i++) tau[i] = opts.sft[i]! - opts.base[i]!;
  if (opts.method === "ondare") {
    const mask = opts.mask ?? (opts.rng ? bernoulliMask({ length: n, p: opts.p, rng: opts.rng }) : undefined);
    if (!mask) throw new MergeInputError("OnDARE needs a mask or an rng", { field: "mask" });
    const clip = opts.clipVal ?? 1;
    const keep = 1 - (1 - opts.p);
    for (let i = 0; i < n; i++) tau[i] = Math.min(clip, Math.max(-clip, mask[i] ? tau[i]! / keep : 0));
    return tau;
  }
  const k = Math.floor(opts.p * n);
  if (opts.p >= 1 || k < 1) return tau;
  const before = l1(tau);
  const mask = opts.mask ?? topKMask(tau, k);
  for (let i = 0; i < n; i++) if (!mask[i]) tau[i] = 0;
  if (opts.rescale) {
    const s = before / l1(tau);
    if (Number.isFinite(s)) for (let i = 0; i < n; i++) tau[i] = tau[i]! * s;
  }
  return tau;
}
