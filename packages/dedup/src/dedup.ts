import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { forEachBucket } from "./band-pass.js";
import type { DedupReport, GiantCluster, SourceReport } from "./dedup-report.js";
import { DedupError } from "./errors.js";
import { GrowArray, SmallIntColumn } from "./grow-array.js";
import { readIndex, writeIndex, type IndexManifest } from "./index-store.js";
import type { DocInfo, KeepPolicy } from "./keep-policy.js";
import { lshParams } from "./lsh-params.js";
import { HASH_SCHEME, jaccardOfSets } from "./minhash-kernel.js";
import { NORMALIZATION } from "./normalize-text.js";
import type { BatchResult } from "./signature-batch.js";
import { createSignaturePool, type SignaturePool } from "./signature-pool.js";
import { SpillFile } from "./spill-file.js";
import { textOf } from "./text-view.js";
import { UnionFind } from "./union-find.js";

export type VerifyMode = "exact" | "estimate" | "none";

/** Progress events: `done` of `total` units in a phase (`total` is unknown while the input streams). */
export interface DedupProgress {
  phase: "signatures" | "per-source" | "global" | "clusters" | "index";
  done: number;
  total?: number | undefined;
}

export interface DedupOptions<R> {
  /** Jaccard similarity (of shingle sets) at or above which two records are duplicates. @default 0.8 */
  threshold?: number;
  /** MinHash permutations. @default 128 */
  numPerm?: number;
  /** Shingle length in code points. @default 5 */
  ngram?: number;
  /** Seed of the MinHash permutations. @default 1 */
  seed?: number;
  /** Override the banding chosen by {@link lshParams} (both or neither). */
  bands?: number;
  rows?: number;
  /**
   * How LSH candidates are confirmed: exact Jaccard of the shingle sets, the MinHash estimate, or not at all.
   * @default "exact"
   */
  verify?: VerifyMode;
  /** Which cluster member survives. @default "first" */
  keep?: KeepPolicy;
  /** Field holding the text (see `textOf`). @default "text", else Dialogue messages */
  field?: string;
  /** Custom text view; overrides `field`. */
  text?: (record: R, index: number) => string;
  /** Custom normalisation (runs on the calling thread only, so it disables worker threads). @default normalizeText */
  normalize?: (text: string) => string;
  /** Source of a record, for `perSource` and the report. @default record.source */
  source?: (record: R, index: number) => string | undefined;
  /** Id of a record, for comparators and saved indexes. @default record.id */
  id?: (record: R, index: number) => string | undefined;
  /** A number per record handed to comparators as `DocInfo.score` (e.g. quality). */
  score?: (record: R, index: number) => number;
  /** Dedup each source alone first, then all survivors together (two-stage, as in the paper). @default false */
  perSource?: boolean;
  /** Worker threads for signatures; 0 computes on the calling thread. @default os.availableParallelism() */
  threads?: number;
  /** Records per signature batch. @default 1024 */
  batchSize?: number;
  /** Clusters larger than this are reported as warnings. @default 1000 */
  giantClusterSize?: number;
  /** Directory of a saved index: input records matching its documents are removed (the index always wins). */
  against?: string;
  /** Save the kept documents (plus any `against` documents) as an index in this directory. */
  saveIndex?: string;
  /** Where temporary files go (removed at the end). @default os.tmpdir() */
  workDir?: string;
  onProgress?: (p: DedupProgress) => void;
  /**
   * Called for every candidate pair the verifier checks, with both input positions (index documents as
   * −1, −2, …) and the verdict; for audits and benchmarks.
   */
  onPair?: (a: number, b: number, accepted: boolean) => void;
}

export interface DedupResult {
  /** Number of input records. */
  count: number;
  /** 1 where the record at that input position is kept. */
  keep: Uint8Array;
  /**
   * Cluster of each input record: the input position of the cluster's first input member, or −1 for a record
   * that is in no cluster of two or more (index documents count as members).
   */
  cluster: Int32Array;
  report: DedupReport;
}

/** Documents per stored shingle-set offset (see `blockStarts`). */
const OFFSET_BLOCK = 64;

/** Buckets with at most this many members are verified pair by pair; larger ones against anchors. */
const ALL_PAIRS_LIMIT = 16;

function policyName(keep: KeepPolicy): string {
  return typeof keep === "function" ? "comparator" : keep;
}

function defaultSource(r: unknown): string | undefined {
  const s = (r as { source?: unknown } | null)?.source;
  return typeof s === "string" ? s : undefined;
}

function defaultId(r: unknown): string | undefined {
  const s = (r as { id?: unknown } | null)?.id;
  return typeof s === "string" ? s : typeof s === "number" ? String(s) : undefined;
}

/**
 * Near-duplicate removal with MinHash-LSH:
 * 1. stream the records, take each one's text, normalise and shingle it, and compute its MinHash signature and
 *    band keys (on worker threads); band keys, shingle sets or signatures spill to disk;
 * 2. per band, sort the keys and turn each bucket into candidate pairs (optionally per source first);
 * 3. verify candidates (exact Jaccard by default) and union the confirmed pairs;
 * 4. keep one record per cluster by the keep policy; report counts, the cluster-size histogram and giant
 *    clusters.
 * Deterministic for a given seed and input order, whatever the thread count.
 *
 * @throws DedupError for bad options, records without text (`NO_TEXT`), or an incompatible `against` index.
 */
export async function dedup<R>(records: Iterable<R> | AsyncIterable<R>, options: DedupOptions<R> = {}): Promise<DedupResult> {
  const textView = options.text;
  const field = options.field;
  const getSource = options.source ?? defaultSource;
  const getId = options.id ?? defaultId;
  const getScore = options.score;
  return runDedup(options, Boolean(options.normalize), async (sink) => {
    const inFlight: Array<Promise<BatchResult>> = [];
    const maxInFlight = Math.max(1, 2 * sink.threads);
    let batch: string[] = [];
    const drainTo = async (limit: number) => {
      while (inFlight.length > limit) sink.addBatch(await inFlight.shift()!);
    };
    let i = 0;
    for await (const rec of records as AsyncIterable<R>) {
      const text = textView ? textView(rec, i) : textOf(rec, { field, line: i + 1 });
      if (typeof text !== "string") throw new DedupError("text view did not return a string", { code: "NO_TEXT", line: i + 1 });
      batch.push(text);
      sink.addRecord(getSource(rec, i), text.length, sink.needIds ? (getId(rec, i) ?? null) : null, getScore ? getScore(rec, i) : Number.NaN);
      i++;
      if (batch.length >= sink.batchSize) {
        inFlight.push(sink.pool.compute(batch));
        batch = [];
        await drainTo(maxInFlight - 1);
        sink.progress(i);
      }
    }
    if (batch.length) inFlight.push(sink.pool.compute(batch));
    await drainTo(0);
  });
}

/** What an input feed hands the pipeline: per-record columns in input order, and signature batches in order. */
export interface FeedSink {
  pool: SignaturePool;
  threads: number;
  batchSize: number;
  needIds: boolean;
  needLengths: boolean;
  addRecord(source: string | undefined, length: number, id: string | null, score: number): void;
  addBatch(r: BatchResult): void;
  progress(done: number): void;
}

/** The pipeline behind `dedup` and `dedupJsonl`: `feed` streams the input into the sink. */
export async function runDedup(options: DedupOptions<never>, customNormalize: boolean, feed: (sink: FeedSink) => Promise<void>): Promise<DedupResult> {
  const t0 = performance.now();
  const threshold = options.threshold ?? 0.8;
  const numPerm = options.numPerm ?? 128;
  const ngram = options.ngram ?? 5;
  const seed = options.seed ?? 1;
  const verify: VerifyMode = options.verify ?? "exact";
  const keepPolicy: KeepPolicy = options.keep ?? "first";
  const perSource = options.perSource ?? false;
  const giantLimit = options.giantClusterSize ?? 1000;
  const batchSize = options.batchSize ?? 1024;
  if (!(threshold > 0 && threshold <= 1)) throw new DedupError(`threshold must be in (0, 1], got ${threshold}`, { code: "BAD_OPTION", field: "threshold" });
  if (!Number.isInteger(numPerm) || numPerm < 1) throw new DedupError(`numPerm must be a positive integer, got ${numPerm}`, { code: "BAD_OPTION", field: "numPerm" });
  if (!Number.isInteger(ngram) || ngram < 1) throw new DedupError(`ngram must be a positive integer, got ${ngram}`, { code: "BAD_OPTION", field: "ngram" });
  if (!["exact", "estimate", "none"].includes(verify)) throw new DedupError(`verify must be exact, estimate or none, got ${verify}`, { code: "BAD_OPTION", field: "verify" });
  if (typeof keepPolicy !== "function" && keepPolicy !== "first" && keepPolicy !== "longest") {
    throw new DedupError(`keep must be first, longest or a comparator, got ${String(keepPolicy)}`, { code: "BAD_OPTION", field: "keep" });
  }
  let bands: number;
  let rows: number;
  let recallAtThreshold: number;
  if (options.bands !== undefined || options.rows !== undefined) {
    bands = options.bands ?? 0;
    rows = options.rows ?? 0;
    if (!(Number.isInteger(bands) && Number.isInteger(rows) && bands > 0 && rows > 0 && bands * rows <= numPerm)) {
      throw new DedupError(`bands × rows must be positive and at most numPerm (${numPerm}), got ${bands}×${rows}`, { code: "BAD_OPTION", field: "bands" });
    }
    recallAtThreshold = 1 - Math.pow(1 - Math.pow(threshold, rows), bands);
  } else {
    ({ bands, rows, recallAtThreshold } = lshParams({ threshold, numPerm }));
  }
  const threads = customNormalize ? 0 : Math.max(0, Math.floor(options.threads ?? availableParallelism()));
  const normalization = options.normalize ? "custom" : NORMALIZATION;
  const onProgress = options.onProgress;
  const onPair = options.onPair;
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => {
    timings[name] = Math.round(performance.now() - since) / 1000;
    return performance.now();
  };

  const work = await mkdtemp(path.join(options.workDir ?? tmpdir(), "sfmed-dedup-"));
  const bandSpills: SpillFile[] = [];
  let shingleSpill: SpillFile | undefined;
  let sigSpill: SpillFile | undefined;
  const pool = createSignaturePool(
    { numPerm, seed, ngram, bands, rows, keepShingles: verify === "exact", keepSignatures: verify === "estimate" },
    threads,
    options.normalize,
  );
  try {
    for (let b = 0; b < bands; b++) bandSpills.push(new SpillFile(path.join(work, `band-${b}.i32`), 1 << 14));
    if (verify === "exact") shingleSpill = new SpillFile(path.join(work, "shingles.i32"), 1 << 18);
    if (verify === "estimate") sigSpill = new SpillFile(path.join(work, "signatures.i32"), 1 << 18);

    // Per-document columns, in document space: index documents first, then input records.
    const sizes = new SmallIntColumn(); // shingle-set size; 0 = empty text (2 bytes per document below 65,536)
    // start of every 64th document's shingle set in shingleSpill; the others add up sizes from there (saves
    // 8 bytes per document)
    const blockStarts = new GrowArray(Float64Array);
    const lengths = new GrowArray(Int32Array);
    const sourceOf = new SmallIntColumn(); // 1 + source number; 0 = index document
    const scores = options.score ? new GrowArray(Float64Array) : undefined;
    const needIds = typeof keepPolicy === "function" || options.saveIndex !== undefined;
    const needLengths = keepPolicy !== "first";
    const ids: Array<string | null> = [];
    const sourceNames: string[] = [];
    const sourceIndex = new Map<string | undefined, number>();
    let shingleTotal = 0;

    // 0. Documents of an earlier run's index.
    let indexDocs = 0;
    if (options.against !== undefined) {
      const idx = await readIndex(options.against, {
        hashScheme: HASH_SCHEME,
        normalization,
        numPerm,
        seed,
        ngram,
        bands,
        rows,
        needShingles: verify === "exact",
        needSignatures: verify === "estimate",
      });
      indexDocs = idx.manifest.count;
      for (let b = 0; b < bands; b++) bandSpills[b]!.append(idx.bandKeys[b]!);
      if (shingleSpill && idx.shingles) shingleSpill.append(idx.shingles);
      if (sigSpill && idx.signatures) sigSpill.append(idx.signatures);
      for (let i = 0; i < indexDocs; i++) {
        const s = idx.sizes[i]!;
        sizes.push(s);
        if ((sizes.length - 1) % OFFSET_BLOCK === 0) blockStarts.push(shingleTotal);
        shingleTotal += s;
        if (needLengths) lengths.push(0);
        sourceOf.push(0);
        scores?.push(Number.NaN);
        if (needIds) ids.push(idx.ids[i] ?? null);
      }
    }

    // 1. Stream the input → signatures → spills, keeping batch order whatever thread finishes first.
    let tStage = performance.now();
    const M = indexDocs;
    let count = 0;
    let batched = 0;
    const addBatch = (r: BatchResult) => {
      const width = 2 * bands;
      const part = new Int32Array(2 * r.count);
      for (let b = 0; b < bands; b++) {
        for (let i = 0; i < r.count; i++) {
          part[2 * i] = r.bandKeys[i * width + 2 * b]!;
          part[2 * i + 1] = r.bandKeys[i * width + 2 * b + 1]!;
        }
        bandSpills[b]!.append(part);
      }
      for (let i = 0; i < r.count; i++) {
        if (sizes.length % OFFSET_BLOCK === 0) blockStarts.push(shingleTotal);
        sizes.push(r.sizes[i]!);
        shingleTotal += r.sizes[i]!;
      }
      batched += r.count;
      if (shingleSpill && r.shingles) shingleSpill.append(r.shingles);
      if (sigSpill && r.signatures) sigSpill.append(r.signatures);
    };
    const addRecord = (src: string | undefined, length: number, id: string | null, score: number) => {
      count++;
      if (needLengths) lengths.push(length);
      let si = sourceIndex.get(src);
      if (si === undefined) {
        si = sourceNames.length;
        sourceIndex.set(src, si);
        sourceNames.push(src ?? "");
      }
      sourceOf.push(si + 1);
      if (scores) scores.push(score);
      if (needIds) ids.push(id);
    };
    await feed({ pool, threads, batchSize, needIds, needLengths, addRecord, addBatch, progress: (done) => onProgress?.({ phase: "signatures", done }) });
    // the workers (and their heaps) are done with: free them before the band pass allocates
    await pool.close();
    if (batched !== count) throw new DedupError(`internal: ${count} records but ${batched} signatures`, { code: "INTERNAL" });
    onProgress?.({ phase: "signatures", done: count, total: count });
    for (const s of bandSpills) s.flush();
    shingleSpill?.flush();
    sigSpill?.flush();
    tStage = lap("signatures", tStage);

    const N = M + count;
    // exact-size copies: the growable buffers' spare capacity is released
    const sizeArr = sizes.take();
    const blockArr = blockStarts.take();
    const lenArr = lengths.take();
    const srcArr = sourceOf.take();
    const scoreArr = scores?.take();
    const uf = new UnionFind(N);
    const empty = new Uint8Array(N);
    let emptyCount = 0;
    for (let d = 0; d < N; d++) {
      if (sizeArr[d] === 0) {
        empty[d] = 1;
        if (d >= M) emptyCount++;
      }
    }

    // Verification.
    let verified = 0;
    let accepted = 0;
    // Rejected pairs, so a pair colliding in several bands is checked once: a direct-mapped table of at most
    // 2^21 slots (16 MB). A pair pushed out by another can be checked again (same verdict); a Set of every
    // rejected pair took ≈40 bytes per pair, hundreds of MB at 10M documents.
    const rejBits = Math.min(21, Math.max(10, Math.ceil(Math.log2(2 * N + 1))));
    const rejLo = new Int32Array(1 << rejBits).fill(-1);
    const rejHi = new Int32Array(1 << rejBits);
    let bufA = new Int32Array(1024);
    let bufB = new Int32Array(1024);
    const sigA = new Int32Array(numPerm);
    const sigB = new Int32Array(numPerm);
    const shingleStart = (d: number): number => {
      const first = d - (d % OFFSET_BLOCK);
      let at = blockArr[first / OFFSET_BLOCK]!;
      for (let i = first; i < d; i++) at += sizeArr[i]!;
      return at;
    };
    const jaccardExact = (x: number, y: number): number => {
      const sx = sizeArr[x]!;
      const sy = sizeArr[y]!;
      if (bufA.length < sx) bufA = new Int32Array(sx * 2);
      if (bufB.length < sy) bufB = new Int32Array(sy * 2);
      const a = shingleSpill!.read(shingleStart(x), sx, bufA);
      const b = shingleSpill!.read(shingleStart(y), sy, bufB);
      // sets are distinct hashes in any order (sorted in indexes written before, first-seen order now)
      return jaccardOfSets(a, sx, b, sy);
    };
    const isDuplicate = (x: number, y: number): boolean => {
      if (verify === "none") return true;
      const sx = sizeArr[x]!;
      const sy = sizeArr[y]!;
      if (verify === "exact") {
        // J ≤ min/max of the set sizes: skip the read when that already rules the pair out
        if (Math.min(sx, sy) < threshold * Math.max(sx, sy) - 1e-9) return false;
        return jaccardExact(x, y) >= threshold - 1e-12;
      }
      sigSpill!.read(x * numPerm, numPerm, sigA);
      sigSpill!.read(y * numPerm, numPerm, sigB);
      let eq = 0;
      for (let k = 0; k < numPerm; k++) if (sigA[k] === sigB[k]) eq++;
      return eq / numPerm >= threshold - 1e-12;
    };
    const tryPair = (x: number, y: number) => {
      if (x < M && y < M) return; // two index documents: both were kept before
      if (uf.find(x) === uf.find(y)) return;
      const lo = x < y ? x : y;
      const hi = x < y ? y : x;
      const slot = (Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi, 0x85ebca6b)) >>> (32 - rejBits);
      if (rejLo[slot] === lo && rejHi[slot] === hi) return;
      verified++;
      const ok = isDuplicate(x, y);
      if (ok) {
        accepted++;
        uf.union(x, y);
      } else {
        rejLo[slot] = lo;
        rejHi[slot] = hi;
      }
      onPair?.(x < M ? -1 - x : x - M, y < M ? -1 - y : y - M, ok);
    };
    const emitPairs = (list: Int32Array, c: number) => {
      if (c <= ALL_PAIRS_LIMIT) {
        for (let p = 0; p < c; p++) for (let q = p + 1; q < c; q++) tryPair(list[p]!, list[q]!);
      } else {
        // large bucket: every member against the first one and its predecessor
        for (let q = 1; q < c; q++) {
          tryPair(list[0]!, list[q]!);
          if (q > 1) tryPair(list[q - 1]!, list[q]!);
        }
      }
    };
    const scratch = { idx: new Int32Array(N), tmp: new Int32Array(N) };
    let keyBuf = new Int32Array(0);
    const sweep = (phase: DedupProgress["phase"], skip: Uint8Array, onBucket: (m: Int32Array, c: number) => void) => {
      for (let b = 0; b < bands; b++) {
        if (keyBuf.length < 2 * N) keyBuf = new Int32Array(2 * N);
        const keys = bandSpills[b]!.read(0, 2 * N, keyBuf);
        forEachBucket(keys, N, skip, onBucket, scratch);
        onProgress?.({ phase, done: b + 1, total: bands });
      }
    };

    // Survivor order: index documents first, then the keep policy, then input order.
    const info = (d: number): DocInfo => ({
      index: d - M,
      id: needIds ? (ids[d] ?? undefined) : undefined,
      source: srcArr[d]! > 0 ? sourceNames[srcArr[d]! - 1] : undefined,
      length: lenArr[d]!,
      score: scoreArr ? scoreArr[d]! : Number.NaN,
    });
    const better = (a: number, b: number): boolean => {
      const ia = a < M;
      const ib = b < M;
      if (ia !== ib) return ia;
      if (ia) return a < b;
      if (keepPolicy === "longest") {
        if (lenArr[a] !== lenArr[b]) return lenArr[a]! > lenArr[b]!;
      } else if (typeof keepPolicy === "function") {
        const c = keepPolicy(info(a), info(b));
        if (c !== 0 && !Number.isNaN(c)) return c < 0;
      }
      return a < b;
    };
    const chooseSurvivors = (alive: Uint8Array | undefined, into?: Int32Array): Int32Array => {
      const best = (into ?? new Int32Array(N)).fill(-1);
      for (let d = 0; d < N; d++) {
        if (alive && !alive[d]) continue;
        const r = uf.find(d);
        const cur = best[r]!;
        if (cur < 0 || better(d, cur)) best[r] = d;
      }
      return best;
    };

    // 2a. Per-source stage: buckets split by source.
    let alive1: Uint8Array | undefined;
    if (perSource) {
      const groups = new Map<number, number[]>();
      let sub = new Int32Array(64);
      sweep("per-source", empty, (members, c) => {
        const s0 = srcArr[members[0]!]!;
        let same = true;
        for (let q = 1; q < c; q++) if (srcArr[members[q]!] !== s0) same = false;
        if (same) {
          emitPairs(members, c);
          return;
        }
        groups.clear();
        for (let q = 0; q < c; q++) {
          const d = members[q]!;
          const s = srcArr[d]!;
          const g = groups.get(s);
          if (g) g.push(d);
          else groups.set(s, [d]);
        }
        for (const g of groups.values()) {
          if (g.length < 2) continue;
          if (sub.length < g.length) sub = new Int32Array(2 * g.length);
          sub.set(g);
          emitPairs(sub, g.length);
        }
      });
      const best1 = chooseSurvivors(undefined);
      alive1 = new Uint8Array(N);
      for (let d = 0; d < N; d++) alive1[d] = best1[uf.find(d)] === d ? 1 : 0;
      tStage = lap("perSource", tStage);
    }

    // 2b. Global stage over the survivors.
    // without a per-source stage the empty mask is the skip mask as it is
    const skip2 = alive1 ? new Uint8Array(N) : empty;
    if (alive1) for (let d = 0; d < N; d++) skip2[d] = empty[d] || !alive1[d] ? 1 : 0;
    sweep("global", skip2, emitPairs);
    tStage = lap("global", tStage);

    // 3. Clusters and survivors, in the band pass's buffers (done with now), so the peak stays that of the pass.
    const reuse = (buf: Int32Array, from: number) => (buf.length >= from + N ? buf.subarray(from, from + N) : new Int32Array(N));
    const best = chooseSurvivors(alive1, reuse(scratch.idx, 0));
    const keep = new Uint8Array(count);
    const compSize = reuse(scratch.tmp, 0).fill(0);
    const firstPos = reuse(keyBuf, 0).fill(-1);
    const hasIndex = new Uint8Array(N);
    for (let d = 0; d < N; d++) {
      const r = uf.find(d);
      compSize[r]!++;
      if (d < M) hasIndex[r] = 1;
      else if (firstPos[r]! < 0) firstPos[r] = d - M;
    }
    const cluster = new Int32Array(count).fill(-1);
    const perSourceReport: Record<string, SourceReport> = {};
    for (const name of sourceNames) perSourceReport[name] = { input: 0, kept: 0, removedWithinSource: 0, removedAcrossSources: 0 };
    let removedByIndex = 0;
    let keptCount = 0;
    for (let d = M; d < N; d++) {
      const r = uf.find(d);
      const p = d - M;
      if (compSize[r]! > 1) cluster[p] = firstPos[r]!;
      const k = best[r] === d;
      keep[p] = k ? 1 : 0;
      const sr = perSourceReport[sourceNames[srcArr[d]! - 1]!]!;
      sr.input++;
      if (k) {
        keptCount++;
        sr.kept++;
      } else {
        if (alive1 && !alive1[d]) sr.removedWithinSource++;
        else sr.removedAcrossSources++;
        if (hasIndex[r]) removedByIndex++;
      }
    }
    const clusterSizes: Record<string, number> = {};
    const giants: GiantCluster[] = [];
    let clusters = 0;
    let largest = 0;
    const sizeCounts = new Map<number, number>();
    for (let d = 0; d < N; d++) {
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
    let removedBelow: number | null = null;
    if (verify === "exact") {
      removedBelow = 0;
      for (let d = M; d < N; d++) {
        if (keep[d - M]) continue;
        const s = best[uf.find(d)]!;
        if (s >= 0 && jaccardExact(d, s) < threshold - 1e-12) removedBelow++;
      }
    }
    onProgress?.({ phase: "clusters", done: count, total: count });
    tStage = lap("clusters", tStage);

    // 4. Optional index of the kept documents (and the documents of the index we matched against).
    if (options.saveIndex !== undefined) {
      const saved: number[] = [];
      for (let d = 0; d < N; d++) if (d < M || keep[d - M]) saved.push(d);
      const savedSizes = new Int32Array(saved.length);
      let total = 0;
      saved.forEach((d, i) => {
        savedSizes[i] = sizeArr[d]!;
        total += sizeArr[d]!;
      });
      let shingles: Int32Array | undefined;
      if (shingleSpill) {
        shingles = new Int32Array(total);
        let p = 0;
        for (const d of saved) {
          // indexes keep each set sorted, as they always have
          shingleSpill.read(shingleStart(d), sizeArr[d]!, shingles.subarray(p, p + sizeArr[d]!)).sort();
          p += sizeArr[d]!;
        }
      }
      let signatures: Int32Array | undefined;
      if (sigSpill) {
        signatures = new Int32Array(saved.length * numPerm);
        saved.forEach((d, i) => sigSpill!.read(d * numPerm, numPerm, signatures!.subarray(i * numPerm, (i + 1) * numPerm)));
      }
      const manifest: IndexManifest = {
        format: "sfmed-dedup-index",
        version: 1,
        hashScheme: HASH_SCHEME,
        normalization,
        numPerm,
        seed,
        ngram,
        bands,
        rows,
        count: saved.length,
        hasShingles: Boolean(shingles),
        hasSignatures: Boolean(signatures),
      };
      await writeIndex(options.saveIndex, manifest, {
        ids: saved.map((d) => ids[d] ?? null),
        bandKeys: (b) => {
          if (keyBuf.length < 2 * N) keyBuf = new Int32Array(2 * N);
          const keys = bandSpills[b]!.read(0, 2 * N, keyBuf);
          const out = new Int32Array(2 * saved.length);
          saved.forEach((d, i) => {
            out[2 * i] = keys[2 * d]!;
            out[2 * i + 1] = keys[2 * d + 1]!;
          });
          return out;
        },
        sizes: savedSizes,
        ...(shingles ? { shingles } : {}),
        ...(signatures ? { signatures } : {}),
      });
      onProgress?.({ phase: "index", done: saved.length, total: saved.length });
      tStage = lap("index", tStage);
    }
    timings.total = Math.round(performance.now() - t0) / 1000;

    const report: DedupReport = {
      params: {
        threshold,
        numPerm,
        ngram,
        seed,
        bands,
        rows,
        recallAtThreshold,
        verify,
        keep: policyName(keepPolicy),
        perSource,
        normalization,
        hashScheme: HASH_SCHEME,
        threads: pool.threads,
        giantClusterSize: giantLimit,
      },
      counts: {
        input: count,
        kept: keptCount,
        removed: count - keptCount,
        empty: emptyCount,
        indexDocs: M,
        removedByIndex,
        clusters,
        largestCluster: largest,
        verifiedPairs: verified,
        acceptedPairs: accepted,
        rejectedPairs: verified - accepted,
        removedBelowThreshold: removedBelow,
      },
      clusterSizes,
      giantClusters: giants,
      warnings,
      perSource: perSourceReport,
      timings,
    };
    return { count, keep, cluster, report };
  } finally {
    await pool.close();
    for (const s of bandSpills) s.close();
    shingleSpill?.close();
    sigSpill?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** The kept records of a dedup result, in input order (re-read the same input to call this). */
export async function* filterKept<R>(records: Iterable<R> | AsyncIterable<R>, result: DedupResult): AsyncGenerator<R> {
  let i = 0;
  for await (const r of records as AsyncIterable<R>) {
    if (i >= result.count) throw new DedupError(`more records than the ${result.count} that were deduplicated`, { code: "INPUT_CHANGED", line: i + 1 });
    if (result.keep[i++]) yield r;
  }
  if (i !== result.count) throw new DedupError(`${i} records, but ${result.count} were deduplicated`, { code: "INPUT_CHANGED" });
}

