import { MergeInputError } from "./errors.js";

/**
 * Spherical interpolation of two whole tensors, as mergekit does: normalise both, take the angle between them,
 * and combine the *unnormalised* tensors with sin((1−t)θ)/sin θ and sin(tθ)/sin θ; when |cos θ| exceeds
 * `dotThreshold` fall back to linear interpolation. Norms at or below `eps` count as 1. t = 0 gives `a`.
 * @default dotThreshold 0.9995, eps 1e-8
 */
export function slerp(opts: { a: Float32Array; b: Float32Array; t: number; dotThreshold?: number; eps?: number }): Float32Array {
  const { a, b, t } = opts;
  if (a.length !== b.length) throw new MergeInputError(`lengths ${a.length} and ${b.length} differ`, { field: "b" });
  const eps = opts.eps ?? 1e-8;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  na = Math.sqrt(na);
  nb = Math.sqrt(nb);
  if (!(na > eps)) na = 1;
  if (!(nb > eps)) nb = 1;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i]! / na) * (b[i]! / nb);
  dot = Math.min(1, Math.max(-1, dot));
  let ca: number;
  let cb: number;
  if (Math.abs(dot) > (opts.dotThreshold ?? 0.9995)) {
    ca = 1 - t;
    cb = t;
  } else {
    const theta = Math.acos(dot);
    const s = Math.sin(theta);
    ca = Math.sin((1 - t) * theta) / s;
    cb = Math.sin(t * theta) / s;
  }
  const fa = Math.fround(ca);
  const fb = Math.fround(cb);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.fround(fa * a[i]!) + Math.fround(fb * b[i]!);
  return out;
}
