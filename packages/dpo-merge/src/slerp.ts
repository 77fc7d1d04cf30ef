import { MergeInputError } from "./errors.js";

/**
 * SLERP coefficients from the two squared norms and the dot product (accumulated in float64), so a streaming
 * caller can gather the sums chunk by chunk. Norms at or below `eps` count as 1; |cos θ| above `dotThreshold`
 * falls back to linear interpolation.
 * @default dotThreshold 0.9995, eps 1e-8
 */
export function slerpCoefficients(opts: { sumAA: number; sumBB: number; sumAB: number; t: number; dotThreshold?: number; eps?: number }): [number, number] {
  const eps = opts.eps ?? 1e-8;
  const { t } = opts;
  let na = Math.sqrt(opts.sumAA);
  let nb = Math.sqrt(opts.sumBB);
  if (!(na > eps)) na = 1;
  if (!(nb > eps)) nb = 1;
  const dot = Math.min(1, Math.max(-1, opts.sumAB / (na * nb)));
  if (Math.abs(dot) > (opts.dotThreshold ?? 0.9995)) return [1 - t, t];
  const theta = Math.acos(dot);
  const s = Math.sin(theta);
  return [Math.sin((1 - t) * theta) / s, Math.sin(t * theta) / s];
}

/** Accumulate the sums {@link slerpCoefficients} needs over one chunk. */
export function slerpSums(a: Float32Array, b: Float32Array, acc = { sumAA: 0, sumBB: 0, sumAB: 0 }): { sumAA: number; sumBB: number; sumAB: number } {
  // Locals instead of property updates in the loop; the same float64 additions in the same order.
  let aa = acc.sumAA;
  let bb = acc.sumBB;
  let ab = acc.sumAB;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    aa += x * x;
    bb += y * y;
    ab += x * y;
  }
  acc.sumAA = aa;
  acc.sumBB = bb;
  acc.sumAB = ab;
  return acc;
}

/** out = ca·a + cb·b in float32. */
export function slerpApply(a: Float32Array, b: Float32Array, [ca, cb]: [number, number], out = new Float32Array(a.length)): Float32Array {
  const fa = Math.fround(ca);
  const fb = Math.fround(cb);
  for (let i = 0; i < a.length; i++) out[i] = Math.fround(fa * a[i]!) + Math.fround(fb * b[i]!);
  return out;
}

/**
 * Spherical interpolation of two whole tensors, as mergekit does: the angle comes from the normalised tensors,
 * and the *unnormalised* tensors are combined with sin((1−t)θ)/sin θ and sin(tθ)/sin θ; nearly collinear
 * tensors (|cos θ| > dotThreshold) are linearly interpolated. t = 0 gives `a`.
 * @default dotThreshold 0.9995, eps 1e-8
 */
export function slerp(opts: { a: Float32Array; b: Float32Array; t: number; dotThreshold?: number; eps?: number }): Float32Array {
  const { a, b } = opts;
  if (a.length !== b.length) throw new MergeInputError(`lengths ${a.length} and ${b.length} differ`, { field: "b" });
  const c = slerpCoefficients({ ...slerpSums(a, b), t: opts.t, ...(opts.dotThreshold !== undefined ? { dotThreshold: opts.dotThreshold } : {}), ...(opts.eps !== undefined ? { eps: opts.eps } : {}) });
  return slerpApply(a, b, c);
}
