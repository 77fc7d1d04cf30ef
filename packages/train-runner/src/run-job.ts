import { appendFile, mkdir, open, readFile } from "node:fs/promises";
import path from "node:path";
import { atomicWrite } from "@sfmed/schema";
import { TrainerRunError } from "./errors.js";
import type { CheckpointEvent, DoneEvent, ErrorEvent, StepEvent, TrainerEvent } from "./events.js";
import type { TrainerJob } from "./jobs.js";
import { buildLaunchCommand, type LaunchOptions } from "./launchers.js";
import { checkJobPlan, type JobWarning } from "./merge-guard.js";
import { findResumeCheckpoint } from "./resume.js";
import { spawnTrainer } from "./trainer-process.js";

/** Any trainer job document: `stage` and `output_dir` are all the runner itself needs. */
export interface JobLike {
  stage: string;
  output_dir: string;
}

export interface RunJobOptions {
  /** Python of the trainer environment (see `ensureTrainerEnv`). */
  python: string;
  /** Launcher settings; `local` when omitted. */
  launch?: Omit<LaunchOptions, "python" | "jobPath">;
  /** Aborting sends SIGINT: the trainer checkpoints and the run resolves as interrupted. */
  signal?: AbortSignal;
  onEvent?: (e: TrainerEvent) => void;
  /** Extra environment for the trainer. */
  env?: Record<string, string>;
  /** Validate the job before starting (throws JobValidationError). Receives the job. */
  validate?: (job: unknown) => void | Promise<void>;
  /** How long to wait for the checkpoint after SIGINT before SIGTERM, then SIGKILL. @default 300000 */
  cancelGraceMs?: number;
  /**
   * Told about risky job values that do not stop the run, checked before launch: an online-merging α whose
   * product with the planned optimizer steps (from `train.max_steps`, or the record count of `data.train` and the
   * launch's world size) exceeds `ALPHA_STEPS_WARN`. Above `ALPHA_STEPS_MAX` the run is refused with a
   * `JobConfigError` unless `optimizer.allow_large_alpha`.
   */
  onWarning?: (w: JobWarning) => void;
}

export interface JobSummary {
  status: "completed" | "interrupted";
  outputDir: string;
  jobPath: string;
  logPath: string;
  eventsPath: string;
  /** The last `step` event's metrics. */
  lastStep?: StepEvent;
  /** Metrics from the `done` event. */
  metrics: Record<string, number>;
  /** The model to use downstream (best when kept, else final). */
  model?: string;
  /** rm with several models: every model. */
  models?: string[];
  /** The whole `done` event. */
  done: DoneEvent;
  bestCheckpoint?: string;
  lastCheckpoint?: string;
  durationMs: number;
}

/** True when `file` exists, is not empty and does not end with a newline. */
async function endsMidLine(file: string): Promise<boolean> {
  const fh = await open(file, "r").catch(() => undefined);
  if (!fh) return false;
  try {
    const { size } = await fh.stat();
    if (size === 0) return false;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 1);
    return b[0] !== 0x0a;
  } finally {
    await fh.close();
  }
}

/** What the trainer's events said so far; each event is also appended to `events.jsonl` (in order) and passed on. */
function eventTracker(eventsPath: string, onEvent: ((e: TrainerEvent) => void) | undefined) {
  const seen = { doneModels: [] as string[] } as {
    lastStep?: StepEvent;
    done?: DoneEvent;
    /** rm with several models emits one done per model. */
    doneModels: string[];
    error?: ErrorEvent;
    lastCheckpoint?: string;
    bestCheckpoint?: string;
  };
  let pending: Promise<void> = Promise.resolve();
  const handle = (e: TrainerEvent) => {
    if (e.event === "step") seen.lastStep = e as StepEvent;
    else if (e.event === "done") {
      seen.done = e as DoneEvent;
      if (typeof seen.done.model === "string") seen.doneModels.push(seen.done.model);
    } else if (e.event === "error") seen.error = e as ErrorEvent;
    else if (e.event === "checkpoint") {
      const c = e as CheckpointEvent;
      seen.lastCheckpoint = c.path;
      if (c.best) seen.bestCheckpoint = c.path;
    }
    const line = JSON.stringify(e) + "\n";
    pending = pending.then(() => appendFile(eventsPath, line));
    onEvent?.(e);
  };
  return { seen, handle, flushed: () => pending };
}

/** On abort: SIGINT (the trainer checkpoints), SIGTERM after `graceMs`, SIGKILL 10 s later. */
function stopOnAbort(child: { kill(signal: NodeJS.Signals): boolean }, signal: AbortSignal | undefined, graceMs: number) {
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    aborted = true;
    child.kill("SIGINT");
    killTimer = setTimeout(() => {
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    }, graceMs);
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    get aborted() {
      return aborted;
    },
    dispose() {
      signal?.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
    },
  };
}

/** Check the plan (validation, α × steps) and write `job.json`; returns the run's file paths. */
async function prepareRun(job: JobLike, opts: RunJobOptions) {
  if (opts.validate) await opts.validate(job);
  if ((job as Partial<TrainerJob>).optimizer) {
    const worldSize = (opts.launch?.launcher ?? "local") === "local" ? 1 : (opts.launch?.nprocPerNode ?? 1) * (opts.launch?.nnodes ?? 1);
    for (const w of await checkJobPlan(job as unknown as TrainerJob, { worldSize })) opts.onWarning?.(w);
  }
  const outputDir = path.resolve(job.output_dir);
  await mkdir(outputDir, { recursive: true });
  const paths = { outputDir, jobPath: path.join(outputDir, "job.json"), logPath: path.join(outputDir, "trainer.log"), eventsPath: path.join(outputDir, "events.jsonl") };
  await atomicWrite(paths.jobPath, [JSON.stringify({ ...job, output_dir: outputDir }, null, 2) + "\n"]);
  // A run killed mid-write can leave a torn last line; start ours on a line of its own.
  if (await endsMidLine(paths.eventsPath)) await appendFile(paths.eventsPath, "\n");
  return paths;
}

/**
 * Run one trainer job to the end: write `output_dir/job.json` atomically, spawn the trainer without a shell, pass
 * its events to `onEvent` (and append them to `output_dir/events.jsonl`), send stderr to `output_dir/trainer.log`.
 * @throws TrainerRunError when the trainer fails (holding its `error` event and the log path).
 */
export async function runJob<J extends JobLike>(job: J, opts: RunJobOptions): Promise<JobSummary> {
  const paths = await prepareRun(job, opts);
  const cmd = buildLaunchCommand({ ...opts.launch, python: opts.python, jobPath: paths.jobPath });
  const started = Date.now();
  const events = eventTracker(paths.eventsPath, opts.onEvent);
  const trainer = spawnTrainer({ command: cmd.command, args: cmd.args, env: { ...cmd.env, ...opts.env }, logPath: paths.logPath, onEvent: events.handle });
  const stop = stopOnAbort(trainer.child, opts.signal, opts.cancelGraceMs ?? 300_000);
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await trainer.exited;
  } finally {
    stop.dispose();
    await events.flushed();
  }
  const { done: finished, error: failed, doneModels, lastStep, lastCheckpoint, bestCheckpoint } = events.seen;
  // An interrupted trainer exits like a process ended by the signal (130 SIGINT, 143 SIGTERM) after its
  // checkpoint and `done` event; older trainers exit 0.
  const stoppedCleanly = finished?.interrupted === true && (exit.code === 0 || exit.code === 130 || exit.code === 143);
  if (failed || (exit.code !== 0 && !stoppedCleanly) || !finished) {
    const why = failed
      ? `${failed.type ?? "Error"}: ${failed.message ?? "trainer failed"}`
      : stop.aborted
        ? "the trainer was stopped before it could checkpoint"
        : `the trainer exited with ${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`} without a done event`;
    throw new TrainerRunError(`${job.stage} job failed: ${why}`, paths.logPath, exit.code, failed);
  }
  const best = finished.best_model ?? finished.best_checkpoint ?? bestCheckpoint;
  return {
    status: finished.interrupted ? "interrupted" : "completed",
    ...paths,
    ...(lastStep ? { lastStep } : {}),
    metrics: finished.metrics ?? {},
    done: finished,
    ...(finished.model ? { model: finished.model } : {}),
    ...(finished.models ? { models: finished.models } : doneModels.length > 1 ? { models: doneModels } : {}),
    ...(best ? { bestCheckpoint: best } : {}),
    ...(lastCheckpoint ? { lastCheckpoint } : {}),
    durationMs: Date.now() - started,
  };
}

export interface ResumeJobOptions extends RunJobOptions {
  /** Told when a torn `events.jsonl` line is skipped or the newest checkpoint is missing. */
  onNotice?: (message: string) => void;
}

/**
 * Continue an interrupted job from its output directory: reads `job.json` and the newest checkpoint that still
 * exists (see `findResumeCheckpoint`), and runs the job again with `resume_from` set; with no checkpoint it starts
 * over.
 */
export async function resumeJob(dir: string, opts: ResumeJobOptions): Promise<JobSummary> {
  const jobPath = path.join(dir, "job.json");
  let job: JobLike;
  try {
    job = JSON.parse(await readFile(jobPath, "utf8")) as JobLike;
  } catch {
    throw new TrainerRunError(`cannot resume: ${jobPath} is missing or not JSON`, path.join(dir, "trainer.log"), null, undefined);
  }
  const checkpoint = await findResumeCheckpoint(dir, opts.onNotice ? { onWarning: opts.onNotice } : {});
  return runJob(checkpoint ? { ...job, resume_from: checkpoint } : job, opts);
}
