import { MergeInputError } from "./errors.js";
import type { Rng } from "./seeded-rng.js";

/**
 * How kept entries are scaled after random dropping:
 * - `inverse_keep`: ×1/p, what `torch.nn.functional.dropout` does; the official online-merging code gets this
 *   implicitly (the DARE paper's own rescale is the same 1/(1−drop rate));
 * - `l1`: scale so the L1 norm matches the dense tensor (current mergekit `rescale: true`);
 * - `none`: no rescale (the online-merging paper's text says it neglects rescaling).
 */
export type RescaleMode = "inverse_keep" | "l1" | "none";

function checkDensity(density: number, field: string): void {
  if (!(density >= 0 && density <= 1)) throw new MergeInputError(`must be in [0, 1], got ${density}`, { code: "BAD_OPTION", field });
}

/** Bernoulli keep-mask with keep probability `p` (1 = keep). */
export function bernoulliMask(opts: { length: number; p: number; rng: Rng }): Uint8Array {
  checkDensity(opts.p, "p");
  const m = new Uint8Array(opts.length);
  for (let i = 0; i < m.length; i++) m[i] = opts.rng() < opts.p ? 1 : 0;
  return m;
}

function l1(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]!);
  return s;
}

/** Apply a keep-mask and rescale (see {@link RescaleMode}). Returns a new array. */
export function applyMask(opts: { delta: Float32Array; mask: ArrayLike<number>; p: number; rescale?: RescaleMode }): Float32Array {
  const { delta, mask, p } = opts;
  if (mask.length !== delta.length) throw new MergeInputError(`mask has ${mask.length} entries for ${delta.length}`, { field: "mask" });
  const mode = opts.rescale ?? "inverse_keep";
  const out = new Float32Array(delta.length);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? delta[i]! : 0;
  if (mode === "inverse_keep") {
    if (p > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! / p;
  } else if (mode === "l1") {
    // Same guard as mergekit's rescaled_masked_tensor: leave tiny norms alone.
    const before = l1(delta);
    const after = l1(out);
    if (before >= 1e-7 && after >= 1e-7) {
      const s = Math.fround(before / after);
      for (let i = 0; i < out.length; i++) out[i] = out[i]! * s;
    }
  }
  return out;
}

/**
 * DARE: keep each delta entry with probability `density` (a Bernoulli keep-probability; the paper speaks of a
 * drop rate = 1 − density) and rescale survivors.
 * @default rescale "inverse_keep"
 */
export function dare(opts: { delta: Float32Array; density: number; rng: Rng; rescale?: RescaleMode; mask?: ArrayLike<number> }): Float32Array {
  checkDensity(opts.density, "density");
  if (opts.density >= 1) return Float32Array.from(opts.delta);
  const mask = opts.mask ?? bernoulliMask({ length: opts.delta.length, p: opts.density, rng: opts.rng });
  return applyMask({ delta: opts.delta, mask, p: opts.density, rescale: opts.rescale ?? "inverse_keep" });
}

/** k-th largest (0-based) of `a`, partially reordering `a` in place (iterative quickselect). */
function selectDescending(a: Float32Array | Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    // Median of three as pivot keeps sorted and constant inputs linear.
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : x > z ? x : y > z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/**
 * Keep-mask of the `k` entries of largest |x|; among equal magnitudes at the cut the lower index wins (what a
 * stable descending argsort gives).
 */
export function topKMask(x: Float32Array | Float64Array, k: number): Uint8Array {
  const n = x.length;
  const mask = new Uint8Array(n);
  if (k <= 0) return mask;
  if (k >= n) return mask.fill(1);
  const mags = x instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) mags[i] = Math.abs(x[i]!);
  const thr = selectDescending(mags, k - 1);
  let above = 0;
  for (let i = 0; i < n; i++) if (Math.abs(x[i]!) > thr) above++;
  let ties = k - above;
  for (let i = 0; i < n; i++) {
    const m = Math.abs(x[i]!);
    if (m > thr) mask[i] = 1;
    else if (m === thr && ties > 0) {
      mask[i] = 1;
      ties--;
    }
  }
  return mask;
}

/**
 * Magnitude pruning (TIES "trim"): keep the top `density` fraction of entries by |x|, zero the rest.
 * `k = max(1, floor(density·n))` as mergekit does; density ≥ 1 returns a copy.
 * @default rescale "none"
 */
export function magnitudePrune(opts: { delta: Float32Array; density: number; rescale?: "none" | "l1" }): Float32Array {
  checkDensity(opts.density, "density");
  const { delta, density } = opts;
  if (density >= 1) return Float32Array.from(delta);
  if (density <= 0 || delta.length === 0) return new Float32Array(delta.length);
  const k = Math.max(1, Math.floor(density * delta.length));
  return applyMask({ delta, mask: topKMask(delta, k), p: density, rescale: opts.rescale ?? "none" });
}
