/** Counts for one source. */
export interface SourceReport {
  input: number;
  kept: number;
  /** Removed in the per-source stage (0 without `perSource`). */
  removedWithinSource: number;
  /** Removed in the global stage (all removals without `perSource`), including matches against an index. */
  removedAcrossSources: number;
}

/** A cluster above `giantClusterSize`: a sign of chained near-duplicates, worth a look. */
export interface GiantCluster {
  cluster: number;
  size: number;
}

/** The JSON report `dedup()` returns and the CLI writes as REPORT.json. */
export interface DedupReport {
  params: {
    threshold: number;
    numPerm: number;
    ngram: number;
    seed: number;
    /** `oph` (default) or `minhash` (the paper's k-permutation MinHash). */
    sketch: "oph" | "minhash";
    bands: number;
    rows: number;
    /** Probability that a pair at exactly the threshold becomes a candidate. */
    recallAtThreshold: number;
    verify: "exact" | "estimate" | "none";
    keep: string;
    perSource: boolean;
    normalization: string;
    hashScheme: string;
    threads: number;
    giantClusterSize: number;
  };
  counts: {
    input: number;
    kept: number;
    removed: number;
    /** Records whose normalised text is empty (never merged, always kept). */
    empty: number;
    /** Documents loaded from `against`. */
    indexDocs: number;
    /** Input records removed because they match a document in the `against` index. */
    removedByIndex: number;
    clusters: number;
    largestCluster: number;
    /**
     * Verifier checks of candidate pairs (pairs already in one cluster are skipped). Rejected pairs are
     * remembered in a bounded table, so a rejected pair pushed out of it by another and met again in a later band
     * is checked, and counted, again (same verdict); `rejectedPairs` counts the same way.
     */
    verifiedPairs: number;
    acceptedPairs: number;
    rejectedPairs: number;
    /** Removed records whose own similarity to their cluster's survivor is below the threshold (exact mode). */
    removedBelowThreshold: number | null;
  };
  /** Cluster size → number of clusters (sizes ≥ 2; index documents count as members). */
  clusterSizes: Record<string, number>;
  giantClusters: GiantCluster[];
  warnings: string[];
  perSource: Record<string, SourceReport>;
  /** Seconds per phase. */
  timings: Record<string, number>;
}
