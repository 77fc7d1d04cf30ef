import { deflateSync } from "node:zlib";

/**
 * Membership-inference scores of one text from its per-token log-probabilities (natural log).
 * - `loss`: mean negative log-likelihood per token, −(1/n)·Σ log p(tₜ | t<ₜ). Lower = more likely seen in training.
 * - `perplexity`: exp(loss).
 * - `zlibRatio`: zlib-compressed size of the UTF-8 text in bytes divided by `loss` (Carlini et al. 2021 divide the
 *   zlib entropy by the log-perplexity, which is `loss`; a loss below 1e-6 counts as 1e-6 so the ratio stays
 *   finite). Higher = the model finds the text far easier than a generic compressor does = more suspicious.
 * - `minKProb`: mean of the lowest k% token log-probs (Shi et al. 2023, "Min-K% Prob"; k = 20 by default).
 *   Higher (closer to 0) = even the hardest tokens are predicted well = more likely a member.
 */
export interface MembershipScores {
  tokens: number;
  loss: number;
  perplexity: number;
  zlibBytes: number;
  zlibRatio: number;
  minKProb: number;
}

export interface MembershipOptions {
  /** Percentage of lowest-probability tokens averaged by Min-K% Prob. @default 20 */
  minKPercent?: number;
}

/**
 * Compute the membership scores of `text` from its token log-probs. Non-finite entries (a server's `null` for the
 * first token) are ignored.
 * @returns undefined when no finite log-prob is left
 */
export function membershipScores(text: string, tokenLogprobs: readonly number[], opts: MembershipOptions = {}): MembershipScores | undefined {
  const lp = tokenLogprobs.filter((x) => Number.isFinite(x));
  if (lp.length === 0) return undefined;
  const loss = -lp.reduce((s, x) => s + x, 0) / lp.length;
  const k = Math.max(1, Math.ceil((lp.length * (opts.minKPercent ?? 20)) / 100));
  const lowest = [...lp].sort((a, b) => a - b).slice(0, k);
  const zlibBytes = deflateSync(Buffer.from(text, "utf8")).length;
  return {
    tokens: lp.length,
    loss,
    perplexity: Math.exp(loss),
    zlibBytes,
    zlibRatio: zlibBytes / Math.max(loss, 1e-6),
    minKProb: lowest.reduce((s, x) => s + x, 0) / k,
  };
}

/**
 * Area under the ROC curve of `scores` for telling positives from negatives (0.5 = chance, 1 = perfect), by the
 * rank-sum (Mann–Whitney U) formula with ties counted half. `higherIsPositive: false` flips the orientation.
 * @returns NaN when one class is empty
 */
export function rocAuc(positives: readonly number[], negatives: readonly number[], higherIsPositive = true): number {
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  const all = [...positives.map((s) => ({ s: higherIsPositive ? s : -s, p: 1 })), ...negatives.map((s) => ({ s: higherIsPositive ? s : -s, p: 0 }))].sort((a, b) => a.s - b.s);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) if (all[t]!.p) rankSum += avgRank;
    i = j;
  }
  const n1 = positives.length;
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * negatives.length);
}
