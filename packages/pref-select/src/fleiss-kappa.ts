/** Fleiss' kappa and the quantities it is built from. */
export interface FleissKappa {
  /** κ = (P̄ − P̄e) / (1 − P̄e); null when P̄e = 1 (every rating in one category: chance agreement is total). */
  kappa: number | null;
  /** Mean observed agreement P̄. */
  observed: number;
  /** Expected (chance) agreement P̄e = Σ_j p_j². */
  expected: number;
  /** Share of all ratings in each category, p_j. */
  categoryShares: number[];
  /** Per-subject agreement P_i. */
  subjectAgreement: number[];
}

/**
 * Fleiss' kappa for `counts[i][j]` = number of raters who put subject i in category j. Every subject must have
 * the same number of ratings n ≥ 2 (rows may be shorter than the widest row; missing cells count as 0).
 *
 * @throws RangeError when there are no subjects, fewer than two raters, or subjects with unequal rating counts.
 */
export function fleissKappa(params: { counts: readonly (readonly number[])[] }): FleissKappa {
  const { counts } = params;
  if (counts.length === 0) throw new RangeError("Fleiss' kappa needs at least one subject");
  const k = Math.max(...counts.map((r) => r.length));
  const n = counts[0]!.reduce((a, b) => a + b, 0);
  if (n < 2) throw new RangeError("Fleiss' kappa needs at least two ratings per subject");
  const totals = new Array<number>(k).fill(0);
  const subjectAgreement = counts.map((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0);
    if (sum !== n) throw new RangeError(`subject ${i} has ${sum} ratings, expected ${n}`);
    let sq = 0;
    row.forEach((c, j) => {
      totals[j]! += c;
      sq += c * c;
    });
    return (sq - n) / (n * (n - 1));
  });
  const N = counts.length;
  const categoryShares = totals.map((t) => t / (N * n));
  const observed = subjectAgreement.reduce((a, b) => a + b, 0) / N;
  const expected = categoryShares.reduce((a, p) => a + p * p, 0);
  const kappa = expected >= 1 - 1e-12 ? null : (observed - expected) / (1 - expected);
  return { kappa, observed, expected, categoryShares, subjectAgreement };
}
