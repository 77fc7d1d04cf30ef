// Report stage: parameters, counts and per-phase timings of a run.
import type { DedupReport } from "../dedup-report.js";
import type { ClusterSummary } from "./clusters.js";
import type { DocTable } from "./doc-table.js";
import type { DedupParams } from "./params.js";

/** Seconds per phase, each measured from the end of the one before (`start` begins the first). */
export class StageClock {
  readonly timings: Record<string, number> = {};
  private readonly t0 = performance.now();
  private since = this.t0;

  start(): void {
    this.since = performance.now();
  }

  lap(name: string): void {
    this.timings[name] = Math.round(performance.now() - this.since) / 1000;
    this.since = performance.now();
  }

  /** Timings with `total` (since construction) added. */
  done(): Record<string, number> {
    this.timings.total = Math.round(performance.now() - this.t0) / 1000;
    return this.timings;
  }
}

export interface PairCounts {
  verified: number;
  accepted: number;
}

export function buildReport(
  p: DedupParams,
  poolThreads: number,
  docs: Pick<DocTable, "M" | "count" | "emptyCount">,
  s: ClusterSummary,
  pairs: PairCounts,
  removedBelowThreshold: number | null,
  timings: Record<string, number>,
): DedupReport {
  return {
    params: {
      threshold: p.threshold,
      numPerm: p.numPerm,
      ngram: p.ngram,
      seed: p.seed,
      sketch: p.sketch,
      bands: p.bands,
      rows: p.rows,
      recallAtThreshold: p.recallAtThreshold,
      verify: p.verify,
      keep: typeof p.keep === "function" ? "comparator" : p.keep,
      perSource: p.perSource,
      normalization: p.normalization,
      hashScheme: p.hashScheme,
      threads: poolThreads,
      giantClusterSize: p.giantLimit,
    },
    counts: {
      input: docs.count,
      kept: s.kept,
      removed: docs.count - s.kept,
      empty: docs.emptyCount,
      indexDocs: docs.M,
      removedByIndex: s.removedByIndex,
      clusters: s.clusters,
      largestCluster: s.largest,
      verifiedPairs: pairs.verified,
      acceptedPairs: pairs.accepted,
      rejectedPairs: pairs.verified - pairs.accepted,
      removedBelowThreshold,
    },
    clusterSizes: s.clusterSizes,
    giantClusters: s.giants,
    warnings: s.warnings,
    perSource: s.perSource,
    timings,
  };
}
