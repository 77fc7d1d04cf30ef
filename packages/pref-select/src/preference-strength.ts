/** Preference strength of one pair under an ensemble of M reward models. */
export interface Strength {
  /** μ = (1/M) Σ_m d_m, where d_m = r_m(chosen) − r_m(rejected). */
  mean: number;
  /** σ = sqrt((1/M) Σ_m (d_m − μ)²): the population standard deviation (÷M, not ÷(M−1)). */
  std: number;
  /** d_m per model, in the input model order. */
  diffs: number[];
}

function sumAscending(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  let t = 0;
  for (const x of s) t += x;
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
  const pos = sumAscending(diffs.filter((d) => d > 0));
  const neg = sumAscending(diffs.filter((d) => d < 0).map((d) => -d));
  const mean = (pos - neg) / m;
  const sq = diffs.map((d) => (d - mean) * (d - mean));
  const std = Math.sqrt(sumAscending(sq) / m);
  return { mean, std, diffs };
}
