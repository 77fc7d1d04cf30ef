// Option, progress and result types of the dedup pipeline, shared by `dedup`, `dedupJsonl`, `dedupFiles` and the stages.
import type { DedupReport } from "./dedup-report.js";
import type { KeepPolicy } from "./keep-policy.js";
import type { BatchResult } from "./signature-batch.js";
import type { Sketch } from "./minhasher.js";
import type { SignaturePool, SignatureWorkers } from "./signature-pool.js";

export type VerifyMode = "exact" | "estimate" | "none";

/** Progress events: `done` of `total` units in a phase (`total` is unknown while the input streams). */
export interface DedupProgress {
  /** `write` comes from `dedupFiles` only: records written to the outputs. */
  phase: "signatures" | "per-source" | "global" | "clusters" | "index" | "write";
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
  /**
   * Signature sketch: one-permutation hashing with optimal densification (same Jaccard estimator, faster), or
   * `"minhash"`, the paper's k-permutation MinHash. Saved indexes record it; an index of the other sketch is
   * refused (`INDEX_MISMATCH`). @default "oph"
   */
  sketch?: Sketch;
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
  /**
   * Worker threads to sign on, owned by the caller (`createSignatureWorkers`), e.g. one pool kept across many
   * runs; `threads` still caps how many are used. @default a pool shared by the process
   */
  workers?: SignatureWorkers;
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
  /** Stops the run between batches and stages with a `DedupError` (`ABORTED`); temporary files are removed. */
  signal?: AbortSignal;
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
