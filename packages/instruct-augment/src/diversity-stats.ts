import { rougeL } from "@sfmed/eval-metrics";

export interface DiversityStats {
  /** Distinct character n-grams / all character n-grams over the texts (whitespace ignored), n = 1..3. */
  distinct1: number;
  distinct2: number;
  distinct3: number;
  /** Mean ROUGE-L F over all pairs of an evenly spaced sample of the texts (lower is more diverse). */
  meanPairwiseRougeL: number;
  /** Texts in that sample. */
  sampled: number;
}

function distinctN(chars: string[][], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const cs of chars) {
    for (let i = 0; i + n <= cs.length; i++) {
      seen.add(cs.slice(i, i + n).join(""));
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

/**
 * Diversity of a set of instructions: distinct-n over characters (the usual measure for Chinese, which has no
 * spaces) and mean pairwise ROUGE-L F over at most `sample` texts taken at even spacing.
 * @param opts.sample @default 200
 */
export function diversityStats(texts: readonly string[], opts: { sample?: number } = {}): DiversityStats {
  const chars = texts.map((t) => [...t].filter((c) => !/\s/u.test(c)));
  const k = Math.min(texts.length, opts.sample ?? 200);
  const picked: string[] = [];
  for (let i = 0; i < k; i++) picked.push(texts[Math.floor((i * texts.length) / k)]!);
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < picked.length; i++) {
    for (let j = i + 1; j < picked.length; j++) {
      sum += rougeL(picked[i]!, picked[j]!).f;
      pairs++;
    }
  }
  return {
    distinct1: distinctN(chars, 1),
    distinct2: distinctN(chars, 2),
    distinct3: distinctN(chars, 3),
    meanPairwiseRougeL: pairs === 0 ? 0 : sum / pairs,
    sampled: picked.length,
  };
}
