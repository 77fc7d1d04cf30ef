import type { ChoiceGroupScore } from "./choice-score.js";
import type { WinTieLoss } from "./win-tie-loss.js";

/** Mean ROUGE-L of one system over the items it answered (each value in [0, 1]). */
export interface RougeSystemSummary {
  model: string;
  n: number;
  /** Reference items with no prediction from this model (scored 0 in the means). */
  missing: number;
  precision: number;
  recall: number;
  f: number;
}

export interface RougeReport {
  kind: "rouge";
  tokenizer: string;
  compat: string;
  systems: RougeSystemSummary[];
}

export interface ChoiceSystemSummary extends ChoiceGroupScore {
  model: string;
  missing: number;
  bySubject: Record<string, ChoiceGroupScore>;
  bySource: Record<string, ChoiceGroupScore>;
}

export interface ChoiceReport {
  kind: "mc";
  systems: ChoiceSystemSummary[];
}

export interface JudgeSystemSummary {
  model: string;
  n: number;
  /** Items whose judgment stayed unparsable after retries (left out of the mean). */
  failed: number;
  mean: number;
  /** Mean per rubric dimension. */
  dimensions: Record<string, number>;
}

export interface JudgeReport {
  kind: "judge";
  judge: string;
  rubric: string;
  systems: JudgeSystemSummary[];
}

/** One or more pairwise comparisons, each A (the system under test) against a baseline B. */
export interface CompareReport {
  kind: "compare";
  /** "rouge-l" or "judge:<rubric>". */
  metric: string;
  /** `unanswered`: references neither system answered, left out of the comparison. */
  comparisons: { a: string; b: string; result: WinTieLoss; unanswered?: number }[];
}

export type EvalReport = RougeReport | ChoiceReport | JudgeReport | CompareReport;
