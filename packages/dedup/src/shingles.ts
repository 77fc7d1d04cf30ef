export interface ShinglesOptions {
  /** Shingle length in code points. @default 5 */
  ngram?: number;
}

/**
 * The set of character n-grams of an (already normalised) text, counted in code points so that characters
 * outside the BMP are never split. A non-empty text shorter than `ngram` is a single shingle (itself); an empty
 * text has no shingles. Returns distinct shingles in order of first appearance.
 *
 * @throws RangeError when `ngram` is not a positive integer.
 */
export function shingles(text: string, options: ShinglesOptions = {}): string[] {
  const n = options.ngram ?? 5;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`ngram must be a positive integer, got ${n}`);
  const cps = Array.from(text);
  if (cps.length === 0) return [];
  if (cps.length < n) return [text];
  const seen = new Set<string>();
  for (let i = 0; i + n <= cps.length; i++) seen.add(cps.slice(i, i + n).join(""));
  return [...seen];
}

/** Exact Jaccard similarity of two shingle sets (as arrays of distinct items). Two empty sets give 0. */
export function jaccard<T>(a: readonly T[], b: readonly T[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const sa = new Set(a);
  let inter = 0;
  for (const x of new Set(b)) if (sa.has(x)) inter++;
  return inter / (sa.size + new Set(b).size - inter);
}
