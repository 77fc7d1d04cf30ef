/** Where each stage's files live in a sharded-dedup work directory, and the markers finished tasks leave. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { atomicWrite } from "@sfmed/schema/io";

export const STAGES = ["sign", "bucket", "cluster", "filter"] as const;
export type Stage = (typeof STAGES)[number];

export const pad = (i: number, width = 5): string => String(i).padStart(width, "0");

/** Paths inside a work directory (see docs/dedup-at-scale.md for the columns of each file). */
export const layout = {
  plan: (w: string) => path.join(w, "plan.json"),
  report: (w: string) => path.join(w, "report.json"),
  docs: (w: string, shard: number) => path.join(w, "sign", "docs", `shard-${pad(shard)}.parquet`),
  bandDir: (w: string, band: number) => path.join(w, "sign", `band-${pad(band, 3)}`),
  bandRun: (w: string, band: number, shard: number, run: number) => path.join(w, "sign", `band-${pad(band, 3)}`, `shard-${pad(shard)}-run-${pad(run, 4)}.parquet`),
  edges: (w: string, task: number) => path.join(w, "bucket", `edges-${pad(task)}.parquet`),
  clusters: (w: string) => path.join(w, "cluster", "clusters.parquet"),
  removed: (w: string, shard: number) => path.join(w, "cluster", "removed", `shard-${pad(shard)}.parquet`),
  kept: (w: string, shard: number) => path.join(w, "filter", `kept-${pad(shard)}.jsonl`),
  removedLines: (w: string, shard: number) => path.join(w, "filter", `removed-${pad(shard)}.jsonl`),
  marker: (w: string, stage: Stage, task: number) => path.join(w, "markers", stage, `${pad(task)}.json`),
  markerDir: (w: string, stage: Stage) => path.join(w, "markers", stage),
};

/** What a finished task leaves (written last, atomically: its presence means every output is in place). */
export interface TaskMarker {
  stage: Stage;
  task: number;
  seconds: number;
  /** Peak resident set size of the task's process, in bytes. */
  peakRssBytes: number;
  /** Bytes of the files the task wrote. */
  bytesWritten: number;
  /** Stage-specific counts (see each stage). */
  stats: Record<string, number>;
  /** Stage-specific data a later stage reads (e.g. the sign stage's run counts per band). */
  data?: Record<string, unknown>;
}

export async function writeMarker(workdir: string, marker: TaskMarker): Promise<void> {
  await atomicWrite(layout.marker(workdir, marker.stage, marker.task), [JSON.stringify(marker, null, 2) + "\n"]);
}

export async function readMarker(workdir: string, stage: Stage, task: number): Promise<TaskMarker | undefined> {
  try {
    return JSON.parse(await readFile(layout.marker(workdir, stage, task), "utf8")) as TaskMarker;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Peak RSS of this process so far, in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}
