/** Preference strength of one pair under an ensemble of M reward models. */
export interface Strength {
  /** μ = (1/M) Σ_m d_m, where d_m = r_m(chosen) − r_m(rejected). */
  mean: number;
  /** σ = sqrt((1/M) Σ_m (d_m − μ)²): the population standard deviation (÷M, not ÷(M−1)). */
  std: number;
  /** d_m per model, in the input model order. */
  diffs: number[];
}

/** Sum in ascending order (a typed-array sort is numeric and far faster than a comparator sort). */
function sumAscending(xs: Float64Array): number {
  xs.sort();
  let t = 0;
  for (let i = 0; i < xs.length; i++) t += xs[i]!;
  return t;
}

/**
 * Mean and population std of the per-model score differences of one pair.
 *
 * The sums run in a canonical order so the result is bit-for-bit independent of the model order, and the
 * positive and negative differences are summed apart so that swapping chosen and rejected gives exactly −μ
 * and the same σ (IEEE addition is sign-symmetric).
 *
 * @throws RangeError when there are no models or the two lists differ in length.
 */
export function preferenceStrength(params: { chosen: readonly number[]; rejected: readonly number[] }): Strength {
  const { chosen, rejected } = params;
  const m = chosen.length;
  if (m === 0) throw new RangeError("preference strength needs at least one reward model");
  if (rejected.length !== m) throw new RangeError(`${m} chosen scores but ${rejected.length} rejected scores`);
  const diffs = chosen.map((c, i) => c - rejected[i]!);
  let np = 0;
  for (const d of diffs) if (d > 0) np++;
  const posD = new Float64Array(np);
  const negD = new Float64Array(m);
  let ip = 0;
  let ineg = 0;
  for (const d of diffs) {
    if (d > 0) posD[ip++] = d;
    else if (d < 0) negD[ineg++] = -d;
  }
  const pos = sumAscending(posD);
  const neg = sumAscending(negD.subarray(0, ineg));
  const mean = (pos - neg) / m;
  const sq = new Float64Array(m);
  for (let i = 0; i < m; i++) sq[i] = (diffs[i]! - mean) * (diffs[i]! - mean);
  const std = Math.sqrt(sumAscending(sq) / m);
  return { mean, std, diffs };
}
