// Flags of `sfmed dedup plan | run-stage | run | status`: their types, the checks that make a bad value a
// UsageError (exit 2), and the mapping to the library's options.
import type { Command } from "commander";
import type { ShardedOptions } from "@sfmed/dedup/sharded";
import type { SlurmArrayOptions } from "@sfmed/train-runner";
import { UsageError } from "../context.js";
import { enumFlag, intFlag, numberFlag } from "../flags.js";

export const STAGE_NAMES = ["sign", "bucket", "cluster", "filter"] as const;

export interface PlanFlags {
  shards: string;
  out: string;
  threshold: string;
  numPerm: string;
  ngram: string;
  seed: string;
  sketch: string;
  bands?: string;
  rows?: string;
  verify: string;
  keep: string;
  field?: string;
  idField: string;
  sourceField: string;
  hashRanges: string;
  runDocs: string;
}

export interface RunFlags {
  executor: string;
  workers?: string;
  submit?: boolean;
  dryRun?: boolean;
  output?: string;
  removed?: string;
  sfmed?: string;
  partition?: string;
  time?: string;
  account?: string;
  cpusPerTask?: string;
  mem?: string;
  maxConcurrent?: string;
  setup: string[];
  jobName: string;
}

export const collect = (v: string, prev: string[]) => [...prev, v];

/** Flags of the one-machine command that mean nothing to the sharded subcommands. */
const ONE_MACHINE_ONLY: Record<string, string> = { perSource: "--per-source", threads: "--threads", index: "--index", against: "--against", clusters: "--clusters" };

/**
 * A subcommand's flags. The parent `dedup` command parses the flags it shares with a subcommand (--threshold, -o,
 * …) itself, wherever they stand, so they are read from both; one-machine-only flags are refused.
 */
export function subcommandFlags<T>(cmd: Command): T {
  const o = cmd.optsWithGlobals();
  for (const [k, flag] of Object.entries(ONE_MACHINE_ONLY)) if (o[k] !== undefined) throw new UsageError(`${flag} is not available in sharded runs (sfmed dedup ${cmd.name()})`);
  return o as T;
}

/**
 * Commander checks a parent's required options for its subcommands too: `dedup`'s -o becomes optional and is
 * required again only when `dedup` itself runs.
 */
export function requireOutputOnlyForDedup(dedup: Command): void {
  const output = dedup.options.find((opt) => opt.long === "--output");
  if (!output?.mandatory) return;
  output.mandatory = false;
  dedup.hook("preAction", (_self, action) => {
    if (action === dedup && dedup.getOptionValue("output") === undefined) (dedup as unknown as { missingMandatoryOptionValue(o: unknown): never }).missingMandatoryOptionValue(output);
  });
}

export function refuseNewline(what: string, p: string): void {
  // a path on its own line of a script must stay one line
  if (/[\n\r]/.test(p)) throw new UsageError(`${what} must not contain a line break: ${JSON.stringify(p)}`);
}

/** The inputs exist and no path would break a script's line. */
export async function checkPlanPaths(inputs: readonly string[], out: string): Promise<void> {
  refuseNewline("--out", out);
  const { requireFile } = await import("./io-helpers.js");
  for (const f of inputs) {
    refuseNewline("<in>", f);
    await requireFile("<in>", f);
  }
}

/** `run-stage`'s stage and task index; under Slurm or the local executor the index may come from the environment. */
export function stageTask(stage: string, shardFlag: string | undefined): { stage: (typeof STAGE_NAMES)[number]; shard: number } {
  const st = enumFlag("STAGE", stage, STAGE_NAMES);
  const raw = shardFlag ?? process.env.SLURM_ARRAY_TASK_ID;
  if (raw === undefined) throw new UsageError("--shard is required (or SLURM_ARRAY_TASK_ID)");
  return { stage: st, shard: intFlag("--shard", raw, { min: 0 }) };
}

/** `plan`'s flags as the library's options (inputs and --out are checked by the caller). */
export function planOptions(o: PlanFlags): ShardedOptions {
  const shards = intFlag("--shards", o.shards, { min: 1, max: 1 << 20 });
  const threshold = numberFlag("--threshold", o.threshold, { min: 0, minExclusive: true, max: 1 });
  const numPerm = intFlag("--num-perm", o.numPerm, { min: 1, max: 8192 });
  const ngram = intFlag("--ngram", o.ngram, { min: 1, max: 1024 });
  const seed = intFlag("--seed", o.seed, { min: 0 });
  const bands = intFlag("--bands", o.bands, { min: 1, max: 8192 });
  const rows = intFlag("--rows", o.rows, { min: 1, max: 8192 });
  if ((bands === undefined) !== (rows === undefined)) throw new UsageError("--bands and --rows go together");
  return {
    shards,
    threshold,
    numPerm,
    ngram,
    seed,
    sketch: enumFlag("--sketch", o.sketch, ["oph", "minhash"] as const),
    ...(bands !== undefined ? { bands, rows } : {}),
    verify: enumFlag("--verify", o.verify, ["exact", "none"] as const),
    keep: enumFlag("--keep", o.keep, ["first", "longest"] as const),
    ...(o.field ? { field: o.field } : {}),
    idField: o.idField,
    sourceField: o.sourceField,
    hashRanges: intFlag("--hash-ranges", o.hashRanges, { min: 1, max: 65536 }),
    runDocs: intFlag("--run-docs", o.runDocs, { min: 1, max: 1 << 26 }),
  };
}

/** The executor `run` uses, once its flags are known to fit together. */
export function runExecutor(workdir: string, o: RunFlags): "local" | "slurm" {
  const executor = enumFlag("--executor", o.executor, ["local", "slurm"] as const);
  refuseNewline("WORKDIR", workdir);
  if (o.sfmed !== undefined) refuseNewline("--sfmed", o.sfmed);
  if (executor === "local" && (o.submit || o.dryRun)) throw new UsageError("--submit and --dry-run go with --executor slurm");
  if (executor === "slurm" && (o.output || o.removed)) throw new UsageError("-o/--removed go with --executor local (concatenate filter/kept-*.jsonl after the Slurm run)");
  if (o.submit && o.dryRun) throw new UsageError("--submit and --dry-run exclude each other");
  return executor;
}

/** `run`'s Slurm flags as train-runner's job-array options. */
export function slurmOptions(o: RunFlags): SlurmArrayOptions {
  return {
    jobName: o.jobName,
    ...(o.partition ? { partition: o.partition } : {}),
    ...(o.time ? { time: o.time } : {}),
    ...(o.account ? { account: o.account } : {}),
    ...(o.mem ? { mem: o.mem } : {}),
    ...(o.cpusPerTask ? { cpusPerTask: intFlag("--cpus-per-task", o.cpusPerTask, { min: 1, max: 4096 }) } : {}),
    ...(o.maxConcurrent ? { maxConcurrent: intFlag("--max-concurrent", o.maxConcurrent, { min: 1 }) } : {}),
    setup: o.setup,
  };
}
