/**
 * Job arrays: N tasks of one shell command, each told its index in `SLURM_ARRAY_TASK_ID`, run as stages that wait
 * for each other. Two executors with the same contract: `runArrayLocal` (worker processes on this machine) and
 * Slurm (`jobArrayScript` writes one sbatch script per stage; `submitJobArrays` chains them with
 * `--dependency=afterok`). The command is the same either way, so a stage that passes locally runs on the cluster.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { atomicWrite, forEachConcurrent } from "@sfmed/schema";
import { shellQuote } from "./launchers.js";

/** A stage of tasks 0 … tasks−1 running `command` (a bash command line; `$SLURM_ARRAY_TASK_ID` is the index). */
export interface ArrayJob {
  /** Stage name: job name suffix and script file name (letters, digits, `.`, `_`, `-`). */
  name: string;
  tasks: number;
  command: string;
}

/** Slurm settings shared by every stage (train-runner's `slurmScript` conventions). */
export interface SlurmArrayOptions {
  /** Job name prefix. @default "sfmed" */
  jobName?: string;
  partition?: string;
  /** e.g. "04:00:00". */
  time?: string;
  account?: string;
  cpusPerTask?: number;
  /** Memory per task, e.g. "2G". */
  mem?: string;
  /** At most this many tasks of a stage at once (`--array=0-N%max`). */
  maxConcurrent?: number;
  /** Lines run before the command in every task (module loads, environment activation). */
  setup?: string[];
}

/** A bad job-array option, or a task or `sbatch` that failed. */
export class JobArrayError extends Error {
  override readonly name = "JobArrayError";
  constructor(
    message: string,
    readonly code: "BAD_OPTION" | "TASK_FAILED" | "SBATCH_FAILED",
    readonly field?: string,
  ) {
    super(message);
  }
}

// sbatch directives are not shell words: their values are kept to characters that need no quoting
const SAFE = /^[\w.,:@+%=-]+$/;

function checkSafe(field: string, v: string | undefined): void {
  if (v !== undefined && !SAFE.test(v)) throw new JobArrayError(`${field} must be letters, digits and . , : @ + % = - _ only, got ${JSON.stringify(v)}`, "BAD_OPTION", field);
}

function checkJob(job: ArrayJob): void {
  if (!/^[\w.-]+$/.test(job.name)) throw new JobArrayError(`job name must be letters, digits, ., _ or -, got ${JSON.stringify(job.name)}`, "BAD_OPTION", "name");
  if (!Number.isInteger(job.tasks) || job.tasks < 1) throw new JobArrayError(`tasks must be a positive integer, got ${job.tasks}`, "BAD_OPTION", "tasks");
}

/** The `--array` value: 0-(N−1), with `%max` when given. */
export function arraySpec(tasks: number, maxConcurrent?: number): string {
  if (maxConcurrent !== undefined && (!Number.isInteger(maxConcurrent) || maxConcurrent < 1)) {
    throw new JobArrayError(`maxConcurrent must be a positive integer, got ${maxConcurrent}`, "BAD_OPTION", "maxConcurrent");
  }
  return `0-${tasks - 1}${maxConcurrent ? `%${maxConcurrent}` : ""}`;
}

/** The sbatch script of one stage: a job array of `job.tasks` tasks, each running `job.command`. */
export function jobArrayScript(job: ArrayJob, o: SlurmArrayOptions = {}): string {
  checkJob(job);
  const prefix = o.jobName ?? "sfmed";
  for (const [k, v] of Object.entries({ jobName: prefix, partition: o.partition, time: o.time, account: o.account, mem: o.mem })) checkSafe(k, v);
  if (o.cpusPerTask !== undefined && !(Number.isInteger(o.cpusPerTask) && o.cpusPerTask > 0)) throw new JobArrayError(`cpusPerTask must be a positive integer, got ${o.cpusPerTask}`, "BAD_OPTION", "cpusPerTask");
  return [
    "#!/bin/bash",
    `#SBATCH --job-name=${prefix}-${job.name}`,
    `#SBATCH --array=${arraySpec(job.tasks, o.maxConcurrent)}`,
    "#SBATCH --ntasks=1",
    ...(o.cpusPerTask ? [`#SBATCH --cpus-per-task=${o.cpusPerTask}`] : []),
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.account ? [`#SBATCH --account=${o.account}`] : []),
    "",
    "set -euo pipefail",
    ...(o.setup ?? []),
    job.command,
    "",
  ].join("\n");
}

/** sbatch arguments of stage `i` given the job id of the stage before it (the script path last). */
export function sbatchArgs(script: string, opts: { dependency?: string | undefined; output?: string | undefined } = {}): string[] {
  return ["--parsable", ...(opts.output ? [`--output=${opts.output}`] : []), ...(opts.dependency ? [`--dependency=afterok:${opts.dependency}`] : []), script];
}

/**
 * A bash script that submits the stages in order, each after the previous one succeeded, printing the job ids:
 * what `submitJobArrays` does, for a user who prefers to run it by hand.
 */
export function submitScript(scripts: Array<{ name: string; path: string }>, opts: { logs?: string } = {}): string {
  const lines = ["#!/bin/bash", "set -euo pipefail"];
  let prev: string | undefined;
  for (const s of scripts) {
    const v = `jid_${s.name.replace(/\W/g, "_")}`;
    const out = opts.logs ? shellQuote(`--output=${opts.logs}/%x-%A_%a.out`) + " " : "";
    lines.push(`${v}=$(sbatch --parsable ${out}${prev ? `--dependency=afterok:"$${prev}" ` : ""}${shellQuote(s.path)})`, `echo "${s.name}: $${v}"`);
    prev = v;
  }
  return lines.join("\n") + "\n";
}

/** The sbatch scripts of a chain of stages and the script that submits them, as files to write. */
export interface StageScripts {
  /** One per stage, in order: `dir/<name>.sbatch`. */
  scripts: Array<{ name: string; path: string; text: string }>;
  /** `dir/submit.sh` (see {@link submitScript}). */
  submit: { path: string; text: string };
  /** Where the tasks' logs go: `dir/logs`. */
  logs: string;
}

/** The scripts of `jobs` run one after another as Slurm job arrays, to be written under `dir`. */
export function stageScripts(jobs: readonly ArrayJob[], slurm: SlurmArrayOptions, dir: string): StageScripts {
  const scripts = jobs.map((job) => ({ name: job.name, path: path.join(dir, `${job.name}.sbatch`), text: jobArrayScript(job, slurm) }));
  const logs = path.join(dir, "logs");
  return { scripts, submit: { path: path.join(dir, "submit.sh"), text: submitScript(scripts, { logs }) }, logs };
}

/** Write {@link stageScripts}' files (each atomically) and create the logs folder. */
export async function writeStageScripts(s: StageScripts): Promise<void> {
  await mkdir(s.logs, { recursive: true });
  for (const f of [...s.scripts, s.submit]) await atomicWrite(f.path, [f.text]);
}

/** The job id in `sbatch --parsable` output: `id` or `id;cluster`. */
export function parseJobId(stdout: string): string {
  const id = stdout.trim().split("\n").pop()?.split(";")[0]?.trim() ?? "";
  if (!/^\d+$/.test(id)) throw new JobArrayError(`sbatch printed no job id: ${JSON.stringify(stdout.trim())}`, "SBATCH_FAILED");
  return id;
}

function runProcess(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Submit stage scripts in order with `sbatch --parsable`, each depending (`afterok`) on the one before.
 * @returns the job id of each stage.
 * @throws JobArrayError `SBATCH_FAILED` when sbatch fails or prints no id
 */
export async function submitJobArrays(scripts: Array<{ name: string; path: string }>, opts: { sbatch?: string; logs?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Array<{ name: string; jobId: string }>> {
  const out: Array<{ name: string; jobId: string }> = [];
  let prev: string | undefined;
  for (const s of scripts) {
    const args = sbatchArgs(s.path, { dependency: prev, output: opts.logs ? `${opts.logs}/%x-%A_%a.out` : undefined });
    const r = await runProcess(opts.sbatch ?? "sbatch", args, opts.env).catch((err: Error) => {
      throw new JobArrayError(`could not run sbatch: ${err.message}`, "SBATCH_FAILED");
    });
    if (r.code !== 0) throw new JobArrayError(`sbatch failed for ${s.name} (exit ${r.code}): ${r.stderr.trim()}`, "SBATCH_FAILED");
    prev = parseJobId(r.stdout);
    out.push({ name: s.name, jobId: prev });
  }
  return out;
}

export interface LocalArrayOptions {
  /** Tasks at once. @default 1 */
  concurrency?: number;
  /** Only these task indexes (e.g. the unfinished ones). @default all */
  only?: readonly number[];
  env?: NodeJS.ProcessEnv;
  /** Output of each task (both streams); default: discarded. */
  onOutput?: (task: number, chunk: string) => void;
  onTaskDone?: (task: number, code: number | null, signal: NodeJS.Signals | null) => void;
  signal?: AbortSignal;
}

/**
 * Run a stage's tasks as local processes (`bash -c command` with `SLURM_ARRAY_TASK_ID` and
 * `SLURM_ARRAY_TASK_COUNT` set), at most `concurrency` at once. After a failure no new task starts; running ones
 * finish.
 * @throws JobArrayError `TASK_FAILED` naming the failed tasks and their exit codes or signals
 */
export async function runArrayLocal(job: ArrayJob, o: LocalArrayOptions = {}): Promise<void> {
  checkJob(job);
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new JobArrayError(`concurrency must be a positive integer, got ${concurrency}`, "BAD_OPTION", "concurrency");
  const tasks = o.only ?? Array.from({ length: job.tasks }, (_, i) => i);
  const failed: string[] = [];
  const children = new Set<ChildProcess>();
  const onAbort = () => {
    for (const c of children) c.kill("SIGTERM");
  };
  o.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    // a failed task rejects, so no new task starts; the ones running finish and are all named below
    await forEachConcurrent(
      tasks,
      async (task) => {
        const why = await runTask(job, task, o, children);
        if (why !== undefined) {
          failed.push(`${task} (${why})`);
          throw new JobArrayError(`${job.name}: task ${task} failed`, "TASK_FAILED");
        }
      },
      { concurrency, signal: o.signal },
    );
  } catch (err) {
    if (!failed.length && !o.signal?.aborted) throw err;
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  if (failed.length) throw new JobArrayError(`${job.name}: task ${failed.join(", ")} failed`, "TASK_FAILED");
  if (o.signal?.aborted) throw new JobArrayError(`${job.name}: aborted`, "TASK_FAILED");
}

/** One local task as `bash -c command`; resolves with why it failed, or undefined when it exited 0. */
function runTask(job: ArrayJob, task: number, o: LocalArrayOptions, children: Set<ChildProcess>): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", job.command], {
      env: { ...(o.env ?? process.env), SLURM_ARRAY_TASK_ID: String(task), SLURM_ARRAY_TASK_COUNT: String(job.tasks) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let error: string | undefined;
    const forward = (d: Buffer) => o.onOutput?.(task, String(d));
    child.stdout!.on("data", forward);
    child.stderr!.on("data", forward);
    child.on("error", (err) => (error = err.message));
    child.on("close", (code, signal) => {
      children.delete(child);
      o.onTaskDone?.(task, code, signal);
      resolve(error ?? (code === 0 ? undefined : signal ? `killed by ${signal}` : `exit ${code}`));
    });
  });
}
