/**
 * ROUGE-L scores are ratios of token counts, so two different scores of texts up to a million tokens differ by
 * more than 1e-12; a smaller excess over the threshold is floating-point noise (F of P = R = 4/5 computes as
 * 0.8000000000000002), not a higher score.
 */
export const SCORE_EPSILON = 1e-12;

/**
 * Whether a score is **greater than** the threshold, as SF-Med appendix B counts memorized samples ("a ROUGE-L
 * score greater than 0.8"): a score equal to the threshold, up to float noise, is not above it.
 */
export function aboveThreshold(score: number, threshold: number): boolean {
  return score - threshold > SCORE_EPSILON;
}
