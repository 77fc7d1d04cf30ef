// Cluster stage: from the union-find and the survivors to per-record keep/cluster columns and the report's
// cluster counts.
import type { GiantCluster, SourceReport } from "../dedup-report.js";
import type { UnionFind } from "../union-find.js";
import type { DocTable } from "./doc-table.js";

export interface ClusterSummary {
  /** 1 where the input record is kept. */
  keep: Uint8Array;
  /** Input position of the cluster's first input member, or −1 outside clusters of two or more. */
  cluster: Int32Array;
  kept: number;
  removedByIndex: number;
  perSource: Record<string, SourceReport>;
  /** Clusters with at least one input member. */
  clusters: number;
  largest: number;
  clusterSizes: Record<string, number>;
  giants: GiantCluster[];
  warnings: string[];
}

/**
 * Keep and cluster columns plus counts. `best` holds each root's survivor, `alive1` the per-source survivors (when
 * that stage ran); `compSize` and `firstPos` are N-long scratch buffers (overwritten).
 */
export function summarizeClusters(
  docs: Pick<DocTable, "M" | "N" | "count" | "sourceOf" | "sourceNames">,
  uf: UnionFind,
  best: Int32Array,
  alive1: Uint8Array | undefined,
  giantLimit: number,
  scratch: { compSize: Int32Array; firstPos: Int32Array },
): ClusterSummary {
  const { M, N, count, sourceOf, sourceNames } = docs;
  const compSize = scratch.compSize.fill(0);
  const firstPos = scratch.firstPos.fill(-1);
  const hasIndex = new Uint8Array(N);
  for (let d = 0; d < N; d++) {
    const r = uf.find(d);
    compSize[r]!++;
    if (d < M) hasIndex[r] = 1;
    else if (firstPos[r]! < 0) firstPos[r] = d - M;
  }
  const keep = new Uint8Array(count);
  const cluster = new Int32Array(count).fill(-1);
  const perSource: Record<string, SourceReport> = {};
  for (const name of sourceNames) perSource[name] = { input: 0, kept: 0, removedWithinSource: 0, removedAcrossSources: 0 };
  let removedByIndex = 0;
  let kept = 0;
  for (let d = M; d < N; d++) {
    const r = uf.find(d);
    const p = d - M;
    if (compSize[r]! > 1) cluster[p] = firstPos[r]!;
    const k = best[r] === d;
    keep[p] = k ? 1 : 0;
    const sr = perSource[sourceNames[sourceOf[d]! - 1]!]!;
    sr.input++;
    if (k) {
      kept++;
      sr.kept++;
    } else {
      if (alive1 && !alive1[d]) sr.removedWithinSource++;
      else sr.removedAcrossSources++;
      if (hasIndex[r]) removedByIndex++;
    }
  }
  return { keep, cluster, kept, removedByIndex, perSource, ...clusterHistogram(uf, compSize, firstPos, giantLimit) };
}

/** Cluster-size histogram (sizes ≥ 2, index documents counted) and the giant clusters, largest first. */
function clusterHistogram(uf: UnionFind, compSize: Int32Array, firstPos: Int32Array, giantLimit: number) {
  const clusterSizes: Record<string, number> = {};
  const giants: GiantCluster[] = [];
  let clusters = 0;
  let largest = 0;
  const sizeCounts = new Map<number, number>();
  for (let d = 0; d < uf.size; d++) {
    if (uf.find(d) !== d || compSize[d]! < 2) continue;
    if (firstPos[d]! < 0) continue; // index documents only
    const s = compSize[d]!;
    clusters++;
    if (s > largest) largest = s;
    sizeCounts.set(s, (sizeCounts.get(s) ?? 0) + 1);
    if (s > giantLimit) giants.push({ cluster: firstPos[d]!, size: s });
  }
  for (const s of [...sizeCounts.keys()].sort((a, b) => a - b)) clusterSizes[String(s)] = sizeCounts.get(s)!;
  giants.sort((a, b) => b.size - a.size || a.cluster - b.cluster);
  const warnings = giants.map(
    (g) => `giant cluster ${g.cluster} has ${g.size} members (limit ${giantLimit}): likely chained near-duplicates; inspect it or raise the threshold`,
  );
  return { clusters, largest, clusterSizes, giants, warnings };
}
