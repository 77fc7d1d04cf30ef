/** What a keep comparator sees of each cluster member. */
export interface DocInfo {
  /** Position in the input (0-based, across all inputs in order). */
  index: number;
  id: string | undefined;
  source: string | undefined;
  /** Length of the deduplicated text in UTF-16 code units. */
  length: number;
  /** The value of the `score` option for this record (e.g. a quality score), or NaN. */
  score: number;
}

/** Negative when `a` should be kept over `b`. Ties fall back to input order. */
export type KeepComparator = (a: DocInfo, b: DocInfo) => number;

/**
 * Which member of a cluster survives: `first` in input order, the `longest` text (ties: first), or the
 * smallest under a comparator (ties: first).
 */
export type KeepPolicy = "first" | "longest" | KeepComparator;

/**
 * A comparator built from common keys, in order: source priority (sources listed first win; unlisted sources
 * after, in name order), higher score, longer text, then id. Example: `byPriority({ sources: ["huatuo", "toyhom"] })`.
 */
export function byPriority(options: { sources?: string[]; score?: boolean; length?: boolean; id?: boolean } = {}): KeepComparator {
  const rank = new Map((options.sources ?? []).map((s, i) => [s, i] as const));
  const big = rank.size;
  return (a, b) => {
    const ra = a.source !== undefined ? (rank.get(a.source) ?? big) : big;
    const rb = b.source !== undefined ? (rank.get(b.source) ?? big) : big;
    if (ra !== rb) return ra - rb;
    if (ra === big && a.source !== b.source) return (a.source ?? "") < (b.source ?? "") ? -1 : 1;
    if (options.score !== false) {
      const sa = Number.isNaN(a.score) ? -Infinity : a.score;
      const sb = Number.isNaN(b.score) ? -Infinity : b.score;
      if (sa !== sb) return sb - sa;
    }
    if (options.length !== false && a.length !== b.length) return b.length - a.length;
    if (options.id !== false && a.id !== b.id) return (a.id ?? "") < (b.id ?? "") ? -1 : 1;
    return 0;
  };
}
