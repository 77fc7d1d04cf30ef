/** Running one task of a stage (skipped when its marker exists), the status of a work directory, and its report. */
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { atomicWrite, sweepStaleTemps } from "@sfmed/schema/io";
import { DedupError } from "../errors.js";
import type { KeepComparator } from "../keep-policy.js";
import { hashSchemeOf } from "../minhasher.js";
import { NORMALIZATION } from "../normalize-text.js";
import { bucketTask } from "./bucket.js";
import { clusterTask, type ClusterSummary } from "./cluster.js";
import { filterShard, type SourceCounts } from "./filter.js";
import { layout, peakRss, readMarker, STAGES, writeMarker, type Stage, type TaskMarker } from "./layout.js";
import { checkInputs, readPlan, type ShardPlan } from "./plan.js";
import { signShard } from "./sign.js";

export interface RunStageOptions {
  /** Run even when the task's marker exists. @default false */
  force?: boolean;
  /** Survivor comparator for the cluster stage, overriding the plan's `keep` (library use only). */
  keep?: KeepComparator;
}

export interface RunStageResult {
  skipped: boolean;
  marker: TaskMarker;
}

/** Folders a stage writes into (stale temp files of killed tasks are swept from them). */
function outputDirs(workdir: string, plan: ShardPlan, stage: Stage): string[] {
  if (stage === "sign") return [path.dirname(layout.docs(workdir, 0)), ...Array.from({ length: plan.params.bands }, (_, b) => layout.bandDir(workdir, b))];
  if (stage === "bucket") return [path.dirname(layout.edges(workdir, 0))];
  if (stage === "cluster") return [path.dirname(layout.clusters(workdir)), path.dirname(layout.removed(workdir, 0))];
  return [path.dirname(layout.kept(workdir, 0))];
}

/** The tasks of `stage` without a marker. */
export async function pendingTasks(workdir: string, plan: ShardPlan, stage: Stage): Promise<number[]> {
  let names: Set<string>;
  try {
    names = new Set(await readdir(layout.markerDir(workdir, stage)));
  } catch {
    names = new Set();
  }
  const out: number[] = [];
  for (let t = 0; t < plan.tasks[stage]; t++) if (!names.has(path.basename(layout.marker(workdir, stage, t)))) out.push(t);
  return out;
}

/**
 * Run task `task` of `stage` in this process. A task whose marker exists is skipped; otherwise its outputs are
 * written atomically and the marker last, so a killed task leaves no marker and no partial output under its final
 * names. Every task of the previous stage must be finished.
 *
 * @throws DedupError `BAD_TASK`, `NOT_READY` (previous stage unfinished), `INPUT_CHANGED`, and the stages' errors.
 */
export async function runStage(workdir: string, stage: Stage, task: number, opts: RunStageOptions = {}): Promise<RunStageResult> {
  const plan = await readPlan(workdir);
  // every task must hash and normalise alike: a library upgrade between tasks would split buckets silently
  const scheme = hashSchemeOf(plan.params.sketch ?? "oph");
  if (plan.params.hashScheme !== scheme || plan.params.normalization !== NORMALIZATION) {
    throw new DedupError(`the plan was made with ${plan.params.hashScheme} / ${plan.params.normalization}, this library has ${scheme} / ${NORMALIZATION}: plan again`, { code: "PLAN_MISMATCH", file: layout.plan(workdir) });
  }
  if (!STAGES.includes(stage)) throw new DedupError(`unknown stage "${String(stage)}" (${STAGES.join(", ")})`, { code: "BAD_TASK", field: "stage" });
  const total = plan.tasks[stage];
  if (!Number.isInteger(task) || task < 0 || task >= total) throw new DedupError(`stage ${stage} has tasks 0 to ${total - 1}, got ${task}`, { code: "BAD_TASK", field: "shard" });
  if (!opts.force) {
    const done = await readMarker(workdir, stage, task);
    if (done) return { skipped: true, marker: done };
  }
  const prev = STAGES[STAGES.indexOf(stage) - 1];
  if (prev) {
    const missing = await pendingTasks(workdir, plan, prev);
    if (missing.length) throw new DedupError(`stage ${prev} is unfinished (${missing.length} of ${plan.tasks[prev]} tasks left, e.g. ${missing[0]})`, { code: "NOT_READY" });
  }
  await checkInputs(plan);
  for (const dir of [...outputDirs(workdir, plan, stage), layout.markerDir(workdir, stage)]) await sweepStaleTemps(dir);
  const t0 = performance.now();
  const partial =
    stage === "sign"
      ? await signShard(workdir, plan, task)
      : stage === "bucket"
        ? await bucketTask(workdir, plan, task)
        : stage === "cluster"
          ? await clusterTask(workdir, plan, opts.keep ? { keep: opts.keep } : {})
          : await filterShard(workdir, plan, task);
  const marker: TaskMarker = { ...partial, seconds: Math.round(performance.now() - t0) / 1000, peakRssBytes: peakRss() };
  await writeMarker(workdir, marker);
  return { skipped: false, marker };
}

export interface StageStatus {
  stage: Stage;
  total: number;
  done: number;
  pending: number[];
}

/** How far each stage of a work directory got. */
export async function shardedStatus(workdir: string): Promise<{ plan: ShardPlan; stages: StageStatus[]; complete: boolean }> {
  const plan = await readPlan(workdir);
  const stages: StageStatus[] = [];
  for (const stage of STAGES) {
    const pending = await pendingTasks(workdir, plan, stage);
    stages.push({ stage, total: plan.tasks[stage], done: plan.tasks[stage] - pending.length, pending });
  }
  return { plan, stages, complete: stages.every((s) => s.pending.length === 0) };
}

/** The report of a finished run (see `DedupReport` for the one-machine counterpart). */
export interface ShardedReport {
  params: ShardPlan["params"] & { shards: number };
  counts: { input: number; kept: number; removed: number; empty: number; clusters: number; largestCluster: number; candidatePairs: number; verifiedPairs: number; acceptedPairs: number };
  clusterSizes: Record<string, number>;
  giantClusters: ClusterSummary["giantClusters"];
  warnings: string[];
  perSource: Record<string, SourceCounts>;
  /** Per stage: tasks, total and slowest task seconds, largest peak RSS of a task, bytes written. */
  stages: Record<Stage, { tasks: number; seconds: number; maxTaskSeconds: number; maxPeakRssBytes: number; bytesWritten: number }>;
  /** The kept lines in input order are these files concatenated. */
  kept: string[];
  removed: string[];
}

/** Gather the markers of a finished run into a report and write it to `workdir/report.json`. */
export async function writeShardedReport(workdir: string): Promise<ShardedReport> {
  const { plan, stages: st, complete } = await shardedStatus(workdir);
  if (!complete) throw new DedupError(`the run is unfinished: ${st.map((s) => `${s.stage} ${s.done}/${s.total}`).join(", ")}`, { code: "NOT_READY" });
  const stages = {} as ShardedReport["stages"];
  const markers: Record<Stage, TaskMarker[]> = { sign: [], bucket: [], cluster: [], filter: [] };
  for (const stage of STAGES) {
    for (let t = 0; t < plan.tasks[stage]; t++) markers[stage].push((await readMarker(workdir, stage, t))!);
    const ms = markers[stage];
    stages[stage] = {
      tasks: ms.length,
      seconds: Math.round(ms.reduce((s, m) => s + m.seconds, 0) * 1000) / 1000,
      maxTaskSeconds: Math.max(...ms.map((m) => m.seconds)),
      maxPeakRssBytes: Math.max(...ms.map((m) => m.peakRssBytes)),
      bytesWritten: ms.reduce((s, m) => s + m.bytesWritten, 0),
    };
  }
  const sum = (stage: Stage, key: string) => markers[stage].reduce((s, m) => s + (m.stats[key] ?? 0), 0);
  const cl = markers.cluster[0]!.data as unknown as ClusterSummary;
  const perSource: Record<string, SourceCounts> = {};
  for (const m of markers.filter) {
    for (const [src, c] of Object.entries((m.data?.perSource ?? {}) as Record<string, SourceCounts>)) {
      const t = (perSource[src] ??= { input: 0, kept: 0, removed: 0 });
      t.input += c.input;
      t.kept += c.kept;
      t.removed += c.removed;
    }
  }
  const limit = plan.params.giantClusterSize;
  const report: ShardedReport = {
    params: { ...plan.params, shards: plan.tasks.sign },
    counts: {
      input: sum("filter", "input"),
      kept: sum("filter", "kept"),
      removed: sum("filter", "removed"),
      empty: sum("sign", "empty"),
      clusters: cl.clusters,
      largestCluster: cl.largestCluster,
      candidatePairs: sum("bucket", "candidates"),
      verifiedPairs: sum("bucket", "verified"),
      acceptedPairs: sum("bucket", "accepted"),
    },
    clusterSizes: cl.clusterSizes,
    giantClusters: cl.giantClusters,
    warnings: cl.giantClusters.map((g) => `giant cluster ${g.cluster} has ${g.size} members (limit ${limit}): likely chained near-duplicates; inspect it or raise the threshold`),
    perSource,
    stages,
    kept: Array.from({ length: plan.tasks.filter }, (_, s) => layout.kept(workdir, s)),
    removed: Array.from({ length: plan.tasks.filter }, (_, s) => layout.removedLines(workdir, s)),
  };
  await atomicWrite(layout.report(workdir), [JSON.stringify(report, null, 2) + "\n"]);
  return report;
}

/**
 * Concatenate a finished run's kept (or removed) shard files, e.g. `report.kept`, into one file, atomically: the
 * same lines in the same order as the one-machine `dedup` writes.
 */
export async function concatShardFiles(files: readonly string[], out: string): Promise<void> {
  await atomicWrite(
    out,
    (async function* () {
      for (const f of files) for await (const chunk of createReadStream(f)) yield chunk as Buffer;
    })(),
    { gzip: false },
  );
}
