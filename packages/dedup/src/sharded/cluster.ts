/** Stage 3, `cluster`: every verified edge → union-find → clusters and one survivor each, by the keep policy. */
import { stat } from "node:fs/promises";
import { GrowArray } from "../grow-array.js";
import { byPriority, type DocInfo, type KeepComparator } from "../keep-policy.js";
import { UnionFind } from "../union-find.js";
import { docKey, keyDoc, keyShard, lookupDocs, sortUnique } from "./docs-lookup.js";
import { layout, readMarker, type TaskMarker } from "./layout.js";
import { asInt32, ParquetIn, writeParquetColumns, type ParquetSchema } from "./parquet-io.js";
import type { ShardPlan } from "./plan.js";

export const CLUSTER_SCHEMA: ParquetSchema = [
  ["shard", "INT32"],
  ["doc", "INT32"],
  ["position", "INT64"],
  ["cluster", "INT64"],
  ["kept", "BOOLEAN"],
];

export const REMOVED_SCHEMA: ParquetSchema = [["doc", "INT32"]];

/** First input position of each shard's documents (from the sign markers), plus the total at the end. */
export async function shardBases(workdir: string, plan: ShardPlan): Promise<number[]> {
  const bases = [0];
  for (let s = 0; s < plan.tasks.sign; s++) bases.push(bases[s]! + Number((await readMarker(workdir, "sign", s))?.data?.docs ?? 0));
  return bases;
}

/** Cluster summary kept in the cluster marker's data (the report reads it). */
export interface ClusterSummary {
  clusters: number;
  largestCluster: number;
  clusterSizes: Record<string, number>;
  giantClusters: Array<{ cluster: number; size: number }>;
  removed: number;
}

/** Call `fn` with the edges of every bucket task, a row group at a time, as doc keys. */
async function forEachEdges(workdir: string, plan: ShardPlan, fn: (a: Float64Array, b: Float64Array) => void): Promise<void> {
  for (let t = 0; t < plan.tasks.bucket; t++) {
    const pq = await ParquetIn.open(layout.edges(workdir, t));
    for (let g = 0; g < pq.rowGroups; g++) {
      const c = await pq.readGroup(["a_shard", "a_doc", "b_shard", "b_doc"], g);
      const as = asInt32(c.a_shard!);
      const ad = asInt32(c.a_doc!);
      const bs = asInt32(c.b_shard!);
      const bd = asInt32(c.b_doc!);
      const a = new Float64Array(as.length);
      const b = new Float64Array(as.length);
      for (let i = 0; i < as.length; i++) {
        a[i] = docKey(as[i]!, ad[i]!);
        b[i] = docKey(bs[i]!, bd[i]!);
      }
      fn(a, b);
    }
  }
}

/** Every document of an edge, sorted: gathered in blocks that are sorted and merged as they fill. */
async function edgeDocuments(workdir: string, plan: ShardPlan): Promise<Float64Array> {
  let keys = new Float64Array(0);
  let block = new GrowArray(Float64Array);
  const merge = () => {
    const add = sortUnique(block.take());
    const all = new Float64Array(keys.length + add.length);
    all.set(keys);
    all.set(add, keys.length);
    keys = sortUnique(all).slice();
    block = new GrowArray(Float64Array);
  };
  await forEachEdges(workdir, plan, (a, b) => {
    for (let i = 0; i < a.length; i++) {
      block.push(a[i]!);
      block.push(b[i]!);
    }
    if (block.length >= Math.max(1 << 20, keys.length)) merge();
  });
  merge();
  return keys;
}

/** Run the single cluster task. `keep` overrides the plan's policy with any comparator (library use). */
export async function clusterTask(workdir: string, plan: ShardPlan, opts: { keep?: KeepComparator } = {}): Promise<Omit<TaskMarker, "seconds" | "peakRssBytes">> {
  const p = plan.params;
  const bases = await shardBases(workdir, plan);
  // two passes over the edges, so memory holds the clustered documents but never the edges themselves
  const keys = await edgeDocuments(workdir, plan);
  const indexOf = (k: number) => {
    let a = 0;
    let b = keys.length - 1;
    while (a < b) {
      const m = (a + b) >> 1;
      if (keys[m]! < k) a = m + 1;
      else b = m;
    }
    return a;
  };
  const n = keys.length;
  const uf = new UnionFind(n);
  await forEachEdges(workdir, plan, (a, b) => {
    for (let i = 0; i < a.length; i++) uf.union(indexOf(a[i]!), indexOf(b[i]!));
  });

  // survivors: keep policy, then input order (dense order is input order)
  const keep = opts.keep ?? (typeof p.keep === "object" ? byPriority({ ...p.keep.priority, score: false }) : p.keep);
  const needInfo = keep !== "first";
  const info = needInfo ? await lookupDocs(workdir, keys, { names: typeof keep === "function" }) : undefined;
  const position = (d: number) => bases[keyShard(keys[d]!)]! + keyDoc(keys[d]!);
  const docInfo = (d: number): DocInfo => ({
    index: position(d),
    id: info!.id?.[d] ?? undefined,
    source: info!.source?.[d] ?? undefined,
    length: info!.textLength[d]!,
    score: Number.NaN,
  });
  const better = (a: number, b: number): boolean => {
    if (keep === "longest") {
      if (info!.textLength[a] !== info!.textLength[b]) return info!.textLength[a]! > info!.textLength[b]!;
    } else if (typeof keep === "function") {
      const c = keep(docInfo(a), docInfo(b));
      if (c !== 0 && !Number.isNaN(c)) return c < 0;
    }
    return a < b;
  };
  const best = new Int32Array(n).fill(-1);
  const first = new Int32Array(n).fill(-1);
  const size = new Int32Array(n);
  for (let d = 0; d < n; d++) {
    const r = uf.find(d);
    size[r]!++;
    if (first[r]! < 0) first[r] = d;
    if (best[r]! < 0 || better(d, best[r]!)) best[r] = d;
  }
  return writeClusterOutputs(workdir, plan, { keys, uf, best, first, size, position });
}

async function writeClusterOutputs(
  workdir: string,
  plan: ShardPlan,
  c: { keys: Float64Array; uf: UnionFind; best: Int32Array; first: Int32Array; size: Int32Array; position: (d: number) => number },
): Promise<Omit<TaskMarker, "seconds" | "peakRssBytes">> {
  const n = c.keys.length;
  const shard = new Int32Array(n);
  const doc = new Int32Array(n);
  const pos = new BigInt64Array(n);
  const cluster = new BigInt64Array(n);
  const kept: boolean[] = new Array<boolean>(n);
  const removedBy: number[][] = Array.from({ length: plan.tasks.filter }, () => []);
  for (let d = 0; d < n; d++) {
    const r = c.uf.find(d);
    shard[d] = keyShard(c.keys[d]!);
    doc[d] = keyDoc(c.keys[d]!);
    pos[d] = BigInt(c.position(d));
    cluster[d] = BigInt(c.position(c.first[r]!));
    kept[d] = c.best[r] === d;
    if (!kept[d]) removedBy[shard[d]!]!.push(doc[d]!);
  }
  let bytesWritten = 0;
  const file = layout.clusters(workdir);
  await writeParquetColumns(file, CLUSTER_SCHEMA, [shard, doc, pos, cluster, kept]);
  bytesWritten += (await stat(file)).size;
  for (let s = 0; s < removedBy.length; s++) {
    const f = layout.removed(workdir, s);
    await writeParquetColumns(f, REMOVED_SCHEMA, [Int32Array.from(removedBy[s]!)]);
    bytesWritten += (await stat(f)).size;
  }
  const giantLimit = plan.params.giantClusterSize;
  const sizes = new Map<number, number>();
  const giants: ClusterSummary["giantClusters"] = [];
  let clusters = 0;
  let largest = 0;
  for (let d = 0; d < n; d++) {
    if (c.uf.find(d) !== d) continue;
    const s = c.size[d]!;
    clusters++;
    largest = Math.max(largest, s);
    sizes.set(s, (sizes.get(s) ?? 0) + 1);
    if (s > giantLimit) giants.push({ cluster: c.position(c.first[d]!), size: s });
  }
  giants.sort((a, b) => b.size - a.size || a.cluster - b.cluster);
  const clusterSizes: Record<string, number> = {};
  for (const s of [...sizes.keys()].sort((a, b) => a - b)) clusterSizes[String(s)] = sizes.get(s)!;
  const removed = n - clusters;
  const summary: ClusterSummary = { clusters, largestCluster: largest, clusterSizes, giantClusters: giants, removed };
  return { stage: "cluster", task: 0, bytesWritten, stats: { clustered: n, clusters, removed, largestCluster: largest }, data: { ...summary } };
}
