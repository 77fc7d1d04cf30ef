/**
 * Stage 2, `bucket`: one band (or one hash range of a band) → verified duplicate edges. Merges the sorted runs of
 * every shard (a k-way merge reading one row group per run at a time), turns each bucket into candidate pairs by
 * the one-machine rule, and verifies them by exact Jaccard of the two documents, read by byte offset.
 */
import { stat } from "node:fs/promises";
import { GrowArray } from "../grow-array.js";
import { jaccardOfSets } from "../minhash-kernel.js";
import { UnionFind } from "../union-find.js";
import { DocReader, docKey, keyDoc, keyShard, lookupDocs, sortUnique, type DocInfoColumns } from "./docs-lookup.js";
import { layout, readMarker, type TaskMarker } from "./layout.js";
import { asInt32, ParquetIn, writeParquetColumns, type ParquetSchema } from "./parquet-io.js";
import type { ShardPlan } from "./plan.js";

/** Buckets with at most this many members give every pair; larger ones every member against the first and its predecessor (as `dedup`). */
export const ALL_PAIRS_LIMIT = 16;

export const EDGE_SCHEMA: ParquetSchema = [
  ["a_shard", "INT32"],
  ["a_doc", "INT32"],
  ["b_shard", "INT32"],
  ["b_doc", "INT32"],
];

/** The signed hash_hi range [lo, hi) of hash range `r` of `n`. */
export function hashRange(r: number, n: number): [number, number] {
  const lo = -2147483648 + Math.floor((r * 4294967296) / n);
  const hi = -2147483648 + Math.floor(((r + 1) * 4294967296) / n);
  return [lo, hi];
}

/** One sorted run being merged: its current row group and position. */
class RunCursor {
  group = -1;
  pos = 0;
  hi: Int32Array<ArrayBufferLike> = new Int32Array(0);
  lo: Int32Array<ArrayBufferLike> = new Int32Array(0);
  shard: Int32Array<ArrayBufferLike> = new Int32Array(0);
  doc: Int32Array<ArrayBufferLike> = new Int32Array(0);
  constructor(
    private readonly pq: ParquetIn,
    private readonly range: [number, number],
  ) {}

  /** Move to the next row in range; false at the end of the run. */
  async advance(): Promise<boolean> {
    for (;;) {
      this.pos++;
      while (this.pos >= this.hi.length) {
        if (++this.group >= this.pq.rowGroups) return false;
        const s = this.pq.groupStats(this.group, "hash_hi");
        if (s && (Number(s.max) < this.range[0] || Number(s.min) >= this.range[1])) continue;
        const g = await this.pq.readGroup(["hash_hi", "hash_lo", "shard", "doc"], this.group);
        this.hi = asInt32(g.hash_hi!);
        this.lo = asInt32(g.hash_lo!);
        this.shard = asInt32(g.shard!);
        this.doc = asInt32(g.doc!);
        this.pos = 0;
      }
      const h = this.hi[this.pos]!;
      if (h >= this.range[0] && h < this.range[1]) return true;
    }
  }
}

/** Row order of the merge: band hash, then shard, then doc (input order among equal hashes). */
function before(a: RunCursor, b: RunCursor): boolean {
  const ai = a.pos;
  const bi = b.pos;
  if (a.hi[ai] !== b.hi[bi]) return a.hi[ai]! < b.hi[bi]!;
  if (a.lo[ai] !== b.lo[bi]) return a.lo[ai]! < b.lo[bi]!;
  if (a.shard[ai] !== b.shard[bi]) return a.shard[ai]! < b.shard[bi]!;
  return a.doc[ai]! < b.doc[bi]!;
}

/** Buckets of two or more members of a band: members as doc keys, bucket b spanning [ends[b-1], ends[b]). */
async function mergeBuckets(workdir: string, plan: ShardPlan, band: number, range: [number, number]): Promise<{ members: Float64Array; ends: Int32Array; rows: number }> {
  const heap: RunCursor[] = [];
  for (let s = 0; s < plan.tasks.sign; s++) {
    const m = await readMarker(workdir, "sign", s);
    const runs = Number(m?.data?.runs ?? 0);
    for (let r = 0; r < runs; r++) {
      const c = new RunCursor(await ParquetIn.open(layout.bandRun(workdir, band, s, r)), range);
      if (await c.advance()) heap.push(c);
    }
  }
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) return;
      const m = l + 1 < heap.length && before(heap[l + 1]!, heap[l]!) ? l + 1 : l;
      if (!before(heap[m]!, heap[i]!)) return;
      [heap[m], heap[i]] = [heap[i]!, heap[m]!];
      i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  const members = new GrowArray(Float64Array);
  const ends = new GrowArray(Int32Array);
  let curHi = 0;
  let curLo = 0;
  let start = 0;
  let rows = 0;
  const close = () => {
    if (members.length - start >= 2) ends.push(members.length);
    else members.length = start; // a bucket of one: drop it
    start = members.length;
  };
  while (heap.length) {
    const c = heap[0]!;
    const h = c.hi[c.pos]!;
    const l = c.lo[c.pos]!;
    if (rows > 0 && (h !== curHi || l !== curLo)) close();
    curHi = h;
    curLo = l;
    members.push(docKey(c.shard[c.pos]!, c.doc[c.pos]!));
    rows++;
    if (!(await c.advance())) {
      heap[0] = heap[heap.length - 1]!;
      heap.pop();
    }
    down(0);
  }
  close();
  return { members: members.take(), ends: ends.take(), rows };
}

/** Every document met, sorted and unique (so each gets one doc-index lookup), and each member's number among them. */
export function denseNumbers(members: Float64Array): { keys: Float64Array; dense: Int32Array } {
  const keys = sortUnique(members.slice());
  const dense = new Int32Array(members.length);
  for (let i = 0; i < members.length; i++) {
    let a = 0;
    let b = keys.length - 1;
    const k = members[i]!;
    while (a < b) {
      const m = (a + b) >> 1;
      if (keys[m]! < k) a = m + 1;
      else b = m;
    }
    dense[i] = a;
  }
  return { keys, dense };
}

/** Write edges (doc keys of both ends) as an edges file; returns their number. */
async function writeEdges(file: string, a: Float64Array, b: Float64Array): Promise<number> {
  const n = a.length;
  const cols = [new Int32Array(n), new Int32Array(n), new Int32Array(n), new Int32Array(n)] as const;
  for (let i = 0; i < n; i++) {
    cols[0][i] = keyShard(a[i]!);
    cols[1][i] = keyDoc(a[i]!);
    cols[2][i] = keyShard(b[i]!);
    cols[3][i] = keyDoc(b[i]!);
  }
  await writeParquetColumns(file, EDGE_SCHEMA, cols);
  return n;
}

/** Run bucket task `task` (band = task mod bands, hash range = ⌊task / bands⌋). */
export async function bucketTask(workdir: string, plan: ShardPlan, task: number): Promise<Omit<TaskMarker, "seconds" | "peakRssBytes">> {
  const p = plan.params;
  const band = task % p.bands;
  const range = hashRange(Math.floor(task / p.bands), p.hashRanges);
  const { members, ends, rows } = await mergeBuckets(workdir, plan, band, range);
  const { keys, dense } = denseNumbers(members);
  const info = p.verify === "exact" ? await lookupDocs(workdir, keys) : undefined;
  const pairs = new PairJudge(plan, keys, info);
  try {
    forEachCandidate(dense, ends, (x, y) => pairs.judge(x, y), (d) => pairs.forget(d));
  } finally {
    pairs.close();
  }
  const file = layout.edges(workdir, task);
  const n = await writeEdges(file, pairs.ea.take(), pairs.eb.take());
  return {
    stage: "bucket",
    task,
    bytesWritten: (await stat(file)).size,
    stats: { band, rows, buckets: ends.length, bucketDocs: keys.length, candidates: pairs.candidates, verified: pairs.verified, accepted: n },
  };
}

/**
 * The candidate pairs of each bucket (`dense[s..e)` for consecutive `ends`): all pairs in a small bucket, the
 * anchor-and-predecessor pairs in a big one, as `dedup` does. `forget(d)` says a document's shingle set is not
 * needed again (`undefined`: a new bucket starts, nothing is).
 */
function forEachCandidate(dense: Int32Array, ends: Int32Array, pair: (x: number, y: number) => void, forget: (d: number | undefined) => void): void {
  let s = 0;
  for (let bi = 0; bi < ends.length; bi++) {
    const e = ends[bi]!;
    forget(undefined);
    if (e - s <= ALL_PAIRS_LIMIT) {
      for (let i = s; i < e; i++) for (let j = i + 1; j < e; j++) pair(dense[i]!, dense[j]!);
    } else {
      for (let q = s + 1; q < e; q++) {
        pair(dense[s]!, dense[q]!);
        if (q > s + 1) pair(dense[q - 1]!, dense[q]!);
        // only the first member and the predecessor are needed again: memory stays flat in a huge bucket
        if (q - 1 > s && dense[q - 1] !== dense[s]) forget(dense[q - 1]!);
      }
    }
    s = e;
  }
}

/** Verifies candidate pairs of one band (exactly when `info` is given) and keeps the accepted edges. */
class PairJudge {
  readonly ea = new GrowArray(Float64Array);
  readonly eb = new GrowArray(Float64Array);
  candidates = 0;
  verified = 0;
  private readonly uf: UnionFind;
  private readonly reader: DocReader;
  private readonly sets = new Map<number, Int32Array>();
  private readonly t: number;

  constructor(plan: ShardPlan, private readonly keys: Float64Array, private readonly info: DocInfoColumns | undefined) {
    this.uf = new UnionFind(keys.length);
    this.reader = new DocReader(plan);
    this.t = plan.params.threshold;
  }

  judge(x: number, y: number): void {
    this.candidates++;
    // pairs already joined in this band are skipped, as `dedup` does (the components do not change)
    if (this.uf.find(x) === this.uf.find(y)) return;
    if (this.info && !this.similar(this.info, x, y)) return;
    this.uf.union(x, y);
    this.ea.push(this.keys[x]!);
    this.eb.push(this.keys[y]!);
  }

  /** A shingle set no later pair of this bucket needs; `undefined`: none is needed (a new bucket). */
  forget(d: number | undefined): void {
    if (d === undefined) this.sets.clear();
    else this.sets.delete(d);
  }

  close(): void {
    this.reader.close();
  }

  private similar(info: DocInfoColumns, x: number, y: number): boolean {
    const sx = info.shingles[x]!;
    const sy = info.shingles[y]!;
    // sizes alone bound the Jaccard: most pairs below the threshold stop here, unread
    if (Math.min(sx, sy) < this.t * Math.max(sx, sy) - 1e-9) return false;
    this.verified++;
    const a = this.setOf(info, x);
    const b = this.setOf(info, y);
    return jaccardOfSets(a, a.length, b, b.length) >= this.t - 1e-12;
  }

  private setOf(info: DocInfoColumns, d: number): Int32Array {
    let s = this.sets.get(d);
    if (!s) {
      s = this.reader.shingleSet(info.file[d]!, info.offset[d]!, info.length[d]!);
      this.sets.set(d, s);
    }
    return s;
  }
}
