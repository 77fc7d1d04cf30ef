/** Counts of scores in equal-width bins over [0, 1]; the last bin includes 1. */
export interface Histogram {
  /** `bins + 1` bin edges, from 0 to 1. */
  edges: number[];
  counts: number[];
}

/** An empty histogram with `bins` equal bins over [0, 1]. @default bins 10 */
export function emptyHistogram(bins = 10): Histogram {
  return { edges: Array.from({ length: bins + 1 }, (_, i) => Number((i / bins).toFixed(10))), counts: new Array<number>(bins).fill(0) };
}

/** Add a score in [0, 1] (values outside are clamped) to the histogram, in place. */
export function addToHistogram(h: Histogram, score: number): void {
  const bins = h.counts.length;
  const i = Math.min(bins - 1, Math.max(0, Math.floor(score * bins)));
  h.counts[i]!++;
}
