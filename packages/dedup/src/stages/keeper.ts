// Select stage: which member of each cluster survives.
import type { DocInfo, KeepPolicy } from "../keep-policy.js";
import type { UnionFind } from "../union-find.js";
import type { DocTable } from "./doc-table.js";

/** True when document `a` should survive over `b`. */
export type SurvivorOrder = (a: number, b: number) => boolean;

/** Survivor order: index documents first (they were kept before), then the keep policy, then input order. */
export function survivorOrder(docs: Pick<DocTable, "M" | "ids" | "sourceOf" | "sourceNames" | "lengths" | "scores">, keep: KeepPolicy): SurvivorOrder {
  const { M, ids, sourceOf, sourceNames, lengths, scores } = docs;
  const info = (d: number): DocInfo => ({
    index: d - M,
    id: ids[d] ?? undefined,
    source: sourceOf[d]! > 0 ? sourceNames[sourceOf[d]! - 1] : undefined,
    length: lengths[d]!,
    score: scores ? scores[d]! : Number.NaN,
  });
  return (a, b) => {
    const ia = a < M;
    const ib = b < M;
    if (ia !== ib) return ia;
    if (ia) return a < b;
    if (keep === "longest") {
      if (lengths[a] !== lengths[b]) return lengths[a]! > lengths[b]!;
    } else if (typeof keep === "function") {
      const c = keep(info(a), info(b));
      if (c !== 0 && !Number.isNaN(c)) return c < 0;
    }
    return a < b;
  };
}

/**
 * The survivor of every cluster, by root: `best[root]` is the best document among those in `alive` (all when
 * undefined), −1 for a root with none. Written into `into` when given.
 */
export function chooseSurvivors(uf: UnionFind, better: SurvivorOrder, alive?: Uint8Array, into?: Int32Array): Int32Array {
  const N = uf.size;
  const best = (into ?? new Int32Array(N)).fill(-1);
  for (let d = 0; d < N; d++) {
    if (alive && !alive[d]) continue;
    const r = uf.find(d);
    const cur = best[r]!;
    if (cur < 0 || better(d, cur)) best[r] = d;
  }
  return best;
}

/** 1 for each document that is its cluster's survivor. */
export function survivorMask(uf: UnionFind, best: Int32Array): Uint8Array {
  const N = uf.size;
  const alive = new Uint8Array(N);
  for (let d = 0; d < N; d++) alive[d] = best[uf.find(d)] === d ? 1 : 0;
  return alive;
}
