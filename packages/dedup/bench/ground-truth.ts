// Exact all-pairs Jaccard join (AllPairs-style prefix filtering) over the normalised shingle sets: the ground
// truth for pair precision/recall. Complete: every pair with J ≥ t is found.
import { MinHasher } from "../src/minhasher.js";
import { normalizeText } from "../src/normalize-text.js";

export function shingleSets(texts: Iterable<string>, ngram = 5): Int32Array[] {
  const h = new MinHasher({ numPerm: 1, ngram });
  const out: Int32Array[] = [];
  for (const t of texts) out.push(h.shingleHashes(normalizeText(t)).slice());
  return out;
}

function jaccardSorted(a: Int32Array, b: Int32Array): number {
  let i = 0, j = 0, inter = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) (inter++, i++, j++);
    else if (a[i]! < b[j]!) i++;
    else j++;
  }
  return inter / (a.length + b.length - inter);
}

/** Pairs (i < j) with exact Jaccard ≥ t, encoded as i·n + j. Empty sets never pair. */
export function exactPairs(sets: Int32Array[], t: number): Set<number> {
  const n = sets.length;
  // rare tokens first
  const freq = new Map<number, number>();
  for (const s of sets) for (const x of s) freq.set(x, (freq.get(x) ?? 0) + 1);
  const ordered = sets.map((s) => Int32Array.from(s).sort((a, b) => freq.get(a)! - freq.get(b)! || a - b));
  const bySize = Array.from({ length: n }, (_, i) => i).filter((i) => sets[i]!.length > 0).sort((a, b) => sets[a]!.length - sets[b]!.length || a - b);
  const index = new Map<number, number[]>();
  const out = new Set<number>();
  const seen = new Int32Array(n).fill(-1);
  for (const x of bySize) {
    const s = ordered[x]!;
    const len = s.length;
    const prefix = len - Math.ceil(t * len - 1e-9) + 1;
    const minLen = t * len - 1e-9;
    for (let p = 0; p < prefix; p++) {
      const list = index.get(s[p]!);
      if (!list) continue;
      for (const y of list) {
        if (seen[y] === x) continue;
        seen[y] = x;
        if (sets[y]!.length < minLen) continue;
        if (jaccardSorted(sets[x]!, sets[y]!) >= t - 1e-12) out.add(x < y ? x * n + y : y * n + x);
      }
    }
    for (let p = 0; p < prefix; p++) {
      const list = index.get(s[p]!);
      if (list) list.push(x);
      else index.set(s[p]!, [x]);
    }
  }
  return out;
}

/** Documents a perfect dedup removes: n minus the connected components of the truth graph (non-empty docs). */
export function truthRemoved(n: number, pairs: Set<number>): number {
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!;
    return x;
  };
  let removed = 0;
  for (const k of pairs) {
    const a = find(Math.floor(k / n));
    const b = find(k % n);
    if (a !== b) {
      parent[b] = a;
      removed++;
    }
  }
  return removed;
}
