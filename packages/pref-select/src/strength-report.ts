import type { SelectAction, SelectResult, SelectSummary } from "./select-pairs.js";

export interface HistogramBin {
  from: number;
  to: number;
  kept: number;
  flipped: number;
  dropped: number;
}

/** One of G equal-size groups of pairs in ascending μ: the σ-against-μ curve of Secrets of RLHF II (Fig. 2). */
export interface StrengthGroup {
  count: number;
  meanStrength: number;
  meanStd: number;
}

export interface SelectReport {
  summary: SelectSummary;
  strength: {
    min: number | null;
    max: number | null;
    mean: number | null;
    /** Quantiles 0.1, 0.25, 0.5, 0.75, 0.9 (linear interpolation between order statistics). */
    quantiles: Record<string, number> | null;
    /** Share of pairs the ensemble prefers the other way (μ < 0). */
    negativeShare: number | null;
    meanStd: number | null;
  };
  histogram: HistogramBin[];
  groups: StrengthGroup[];
  /** Per-pair points for plotting: [μ, σ, action]. */
  points: [number, number, SelectAction][];
}

function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * Summarise a selection for its JSON report and plot: μ statistics, a histogram of μ split by action, and the
 * mean σ of `groups` equal-size groups in ascending μ (Secrets of RLHF II sorts its pairs into 20 such groups
 * and finds σ tracing a U-shape: the ensemble disagrees most on the pairs at both ends of the μ range).
 *
 * @param params.bins histogram bins. @default 30
 * @param params.groups groups for σ against μ. @default 20 (as in the paper)
 */
export function buildSelectReport(params: { result: SelectResult; bins?: number | undefined; groups?: number | undefined }): SelectReport {
  const { result } = params;
  const rows = result.strengths;
  const n = rows.length;
  const bins = params.bins ?? 30;
  const g = Math.min(params.groups ?? 20, n);
  const mus = rows.map((r) => r.strength);
  const histogram: HistogramBin[] = [];
  if (n) {
    let lo = mus[0]!;
    let hi = mus[n - 1]!;
    if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
    const w = (hi - lo) / bins;
    for (let b = 0; b < bins; b++) histogram.push({ from: lo + b * w, to: b === bins - 1 ? hi : lo + (b + 1) * w, kept: 0, flipped: 0, dropped: 0 });
    for (const r of rows) histogram[Math.min(bins - 1, Math.floor((r.strength - lo) / w))]![r.action]++;
  }
  const groups: StrengthGroup[] = [];
  for (let k = 0; k < g; k++) {
    const part = rows.slice(Math.floor((k * n) / g), Math.floor(((k + 1) * n) / g));
    groups.push({
      count: part.length,
      meanStrength: part.reduce((a, r) => a + r.strength, 0) / part.length,
      meanStd: part.reduce((a, r) => a + r.strengthStd, 0) / part.length,
    });
  }
  const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    summary: result.summary,
    strength: {
      min: n ? mus[0]! : null,
      max: n ? mus[n - 1]! : null,
      mean: mean(mus),
      quantiles: n ? Object.fromEntries([0.1, 0.25, 0.5, 0.75, 0.9].map((q) => [String(q), quantile(mus, q)])) : null,
      negativeShare: n ? mus.filter((x) => x < 0).length / n : null,
      meanStd: mean(rows.map((r) => r.strengthStd)),
    },
    histogram,
    groups,
    points: rows.map((r) => [r.strength, r.strengthStd, r.action]),
  };
}
