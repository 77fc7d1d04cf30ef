import { createHash } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { isInside, sweepStaleTemps } from "@sfmed/schema";
import { InterruptedError, signalExitCode, type StopSignal } from "../signals.js";
import { PipelineOutputError, PipelineStageError } from "./errors.js";
import { DEFAULT_HASH_LIMITS, fingerprintPath, hashHubInput, hashPath, projectRoots, STAGE_MARKER, type HashLimits } from "./hash-inputs.js";
import { interpolate } from "./interpolate.js";
import { planStages, stageScope, type PlannedStage } from "./plan.js";
import { checkLayout, hasCheckpoints, isTraining, lockOut, readMarker, writeJson, type StageMarker } from "./stage-folders.js";
import type { PipelineSpec } from "./spec.js";

export { PipelineOutputError, PipelineStageError } from "./errors.js";
export { REPORT_FILES } from "./stage-folders.js";

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

export type StageStatus = "cached" | "running" | "resumed" | "done" | "failed" | "interrupted" | "skipped";

export interface StageEvent {
  stage: string;
  status: StageStatus;
  ms?: number;
  argv?: string[];
  error?: string;
}

export interface PipelineOptions {
  /** Runs one `sfmed` command in-process; resolves to its exit code. */
  runCommand: (argv: string[]) => Promise<number>;
  /** Starts a service stage (`serve CHECKPOINT ...`). */
  startService: (argv: string[]) => Promise<RunningService>;
  /** Re-run these stages even when cached (their dependents follow, as their keys change). */
  force?: string[];
  /** Stop after this stage. */
  until?: string;
  /** Only report what would run. */
  dryRun?: boolean;
  onStage?: (e: StageEvent) => void;
  /**
   * Abort to stop the run (the CLI does on SIGINT/SIGTERM; the reason is the signal's name). No further stage
   * starts; the running stage — which got the signal too — is taken as unfinished unless it exits 0.
   */
  signal?: AbortSignal;
  /** Told about housekeeping: stale temp files removed. */
  onNotice?: (message: string) => void;
  /** Inputs larger than this are refused rather than hashed on every run. */
  hashLimits?: HashLimits;
}

export interface StageResult {
  id: string;
  status: StageStatus;
  key: string;
  dir: string;
  ms: number;
  argv?: string[];
  error?: string;
}

export interface PipelineResult {
  name: string;
  out: string;
  ok: boolean;
  stages: StageResult[];
  ms: number;
  /** Where the JSON report was written. */
  reportPath: string;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** One run of a pipeline, once `out` is locked: the stages' keys, started services and results so far. */
class PipelineRun {
  readonly started = Date.now();
  readonly keys: Record<string, string> = {};
  readonly services = new Map<string, RunningService>();
  /** Service stage id → its resolved `serve …` argv (started lazily). */
  readonly serviceArgv = new Map<string, string[]>();
  readonly results: StageResult[] = [];
  readonly force: Set<string>;
  readonly shownFile: string;
  readonly markerPipeline: string;
  readonly roots: string[];

  constructor(
    readonly spec: PipelineSpec,
    readonly opts: PipelineOptions,
    readonly plan: PlannedStage[],
  ) {
    this.force = new Set(opts.force ?? []);
    this.shownFile = path.relative(process.cwd(), spec.file) || spec.file;
    this.markerPipeline = path.relative(spec.out, spec.file);
    this.roots = projectRoots(spec.file);
  }

  emit(e: StageEvent): void {
    this.opts.onStage?.(e);
  }

  stopSignal(): StopSignal | undefined {
    if (!this.opts.signal?.aborted) return undefined;
    return this.opts.signal.reason === "SIGTERM" ? "SIGTERM" : "SIGINT";
  }

  interrupted(stage: string, sig: StopSignal): InterruptedError {
    return new InterruptedError(sig, `pipeline stopped by ${sig} during stage "${stage}"; finished stages are kept: run \`sfmed pipeline run ${this.shownFile}\` again to resume from "${stage}"`);
  }

  async startServiceFor(id: string): Promise<RunningService> {
    let s = this.services.get(id);
    if (s) return s;
    const t = Date.now();
    this.emit({ stage: id, status: "running", argv: this.serviceArgv.get(id)! });
    try {
      s = await this.opts.startService(this.serviceArgv.get(id)!);
    } catch (err) {
      this.emit({ stage: id, status: "failed", error: (err as Error).message });
      throw new PipelineStageError(id, (err as Error).message, this.spec.file);
    }
    this.services.set(id, s);
    this.emit({ stage: id, status: "done", ms: Date.now() - t });
    return s;
  }

  /** The stage's cache key (command, upstream keys, input contents) and the same without `--force`'s nonce. */
  async keysOf(p: PlannedStage): Promise<{ key: string; baseKey: string }> {
    const inputHashes: Record<string, string> = {};
    const limits = this.opts.hashLimits ?? DEFAULT_HASH_LIMITS;
    for (const inp of p.inputs) {
      const name = path.relative(path.dirname(this.spec.file), inp.path);
      if (inputHashes[name] !== undefined) continue;
      // Inside the project, or named under `inputs:`: content. Elsewhere: size and time, never a walk.
      inputHashes[name] = inp.named || this.roots.some((r) => isInside(r, inp.path)) ? await hashPath(inp.path, p.stage.id, limits) : await fingerprintPath(inp.path);
    }
    for (const uri of p.hubInputs) inputHashes[uri] ??= await hashHubInput(uri, p.stage.id);
    const keyOf = (nonce: number) => sha(JSON.stringify({ argv: p.argvForKey, deps: p.deps.map((d) => [d, this.keys[d]]), inputs: Object.entries(inputHashes).sort(), force: nonce }));
    const forced = this.force.has(p.stage.id);
    const key = keyOf(forced ? this.started : 0);
    // The key without --force's nonce: an interrupted forced run still resumes on a plain rerun.
    return { key, baseKey: forced ? keyOf(0) : key };
  }

  /** Whether an unfinished training run's checkpoints can be continued (the same command, inputs and upstream). */
  async resumable(p: PlannedStage, marker: StageMarker | undefined, finished: boolean, baseKey: string): Promise<boolean> {
    const { stage, dir } = p;
    if (!isTraining(p.words) || !marker || finished || this.force.has(stage.id) || !(await hasCheckpoints(dir))) return false;
    if ((marker.baseKey ?? marker.key) !== baseKey) {
      throw new PipelineOutputError(
        "stale_checkpoints",
        dir,
        `stage "${stage.id}": ${dir} holds checkpoints of an unfinished run whose command, inputs or upstream stages have changed since; they are kept. Run with --force ${stage.id} to start it over (deleting them), or move the folder away`,
        stage.id,
      );
    }
    return true;
  }

  /** Run one stage's command in its folder, marking the folder running, then done; a failure or stop throws. */
  async execute(p: PlannedStage, key: string, baseKey: string, marker: StageMarker | undefined, finished: boolean): Promise<void> {
    const { stage, dir, words, deps } = p;
    const t = Date.now();
    const resume = await this.resumable(p, marker, finished, baseKey);
    // Services this stage names start now (lazily), so fully cached runs never load a model.
    const urls: Record<string, string> = {};
    for (const d of deps) if (this.serviceArgv.has(d)) urls[d] = (await this.startServiceFor(d)).url;
    const scope = stageScope(this.spec, this.plan, p);
    const argv = [...words.map((w) => interpolate(w, { ...scope, serviceUrl: (k) => urls[k] ?? "" })), ...(resume ? ["--resume"] : [])];
    if (!resume) {
      // Ours (checkLayout saw the marker, or the folder was empty or absent): safe to clear.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
    }
    const startedAt = new Date().toISOString();
    await writeJson(path.join(dir, STAGE_MARKER), { stage: stage.id, pipeline: this.markerPipeline, state: "running", key, baseKey, startedAt });
    this.emit({ stage: stage.id, status: resume ? "resumed" : "running", argv });
    let code: number;
    let error: string | undefined;
    try {
      code = await this.opts.runCommand(argv);
    } catch (err) {
      code = 1;
      error = (err as Error).message;
    }
    const ms = Date.now() - t;
    const sig = this.stopSignal() ?? (code === signalExitCode("SIGINT") ? "SIGINT" : code === signalExitCode("SIGTERM") ? "SIGTERM" : undefined);
    if (code !== 0 && sig) {
      // Stopped, not finished: the marker stays "running", so the next run does this stage again.
      this.results.push({ id: stage.id, status: "interrupted", key, dir, ms, argv, error: `stopped by ${sig}` });
      this.emit({ stage: stage.id, status: "interrupted", ms });
      await this.writeReport(false);
      throw this.interrupted(stage.id, sig);
    }
    if (code !== 0) {
      error ??= `sfmed ${argv[0]} exited with code ${code}`;
      this.results.push({ id: stage.id, status: "failed", key, dir, ms, argv, error });
      this.emit({ stage: stage.id, status: "failed", ms, error });
      await this.writeReport(false);
      throw new PipelineStageError(stage.id, error, this.shownFile, isTraining(words));
    }
    await writeJson(path.join(dir, STAGE_MARKER), { stage: stage.id, pipeline: this.markerPipeline, state: "done", key, baseKey, argv, startedAt, finishedAt: new Date().toISOString(), ms });
    this.results.push({ id: stage.id, status: "done", key, dir, ms, argv });
    this.emit({ stage: stage.id, status: "done", ms });
  }

  /** One planned stage: a service is only remembered; a stage is skipped, taken from the cache, or run. */
  async step(p: PlannedStage, reachedUntil: boolean): Promise<void> {
    const { stage, dir } = p;
    const { key, baseKey } = await this.keysOf(p);
    this.keys[stage.id] = key;
    if (stage.service) {
      this.serviceArgv.set(stage.id, p.argv);
      return;
    }
    if (reachedUntil) {
      this.results.push({ id: stage.id, status: "skipped", key, dir, ms: 0 });
      this.emit({ stage: stage.id, status: "skipped" });
      return;
    }
    const stop = this.stopSignal();
    if (stop) throw this.interrupted(stage.id, stop);
    const marker = await readMarker(dir);
    const finished = marker !== undefined && (marker.state ?? "done") === "done";
    if (finished && marker.key === key && !this.force.has(stage.id)) {
      // A cached stage reports the time and command of the run that produced it.
      this.results.push({ id: stage.id, status: "cached", key, dir, ms: marker.ms ?? 0, ...(marker.argv ? { argv: marker.argv } : {}) });
      this.emit({ stage: stage.id, status: "cached" });
    } else if (this.opts.dryRun) {
      this.results.push({ id: stage.id, status: "skipped", key, dir, ms: 0, argv: p.argv });
      this.emit({ stage: stage.id, status: "skipped", argv: p.argv });
    } else await this.execute(p, key, baseKey, marker, finished);
  }

  async run(): Promise<PipelineResult> {
    if (!this.opts.dryRun) {
      // Temp files a killed run left behind (their writer is gone) in `out` and in the stage folders we own.
      const swept = await sweepStaleTemps(this.spec.out);
      for (const p of this.plan) if (await readMarker(p.dir)) swept.push(...(await sweepStaleTemps(p.dir)));
      if (swept.length) this.opts.onNotice?.(`removed ${swept.length} temp file(s) left by an interrupted run`);
    }
    try {
      let reachedUntil = false;
      for (const p of this.plan) {
        await this.step(p, reachedUntil);
        if (this.opts.until === p.stage.id) reachedUntil = true;
      }
    } finally {
      for (const s of this.services.values()) await s.close().catch(() => undefined);
    }
    // A dry run writes nothing, not even the report.
    const reportPath = this.opts.dryRun ? path.join(this.spec.out, "pipeline-report.json") : await this.writeReport(true);
    return { name: this.spec.name, out: this.spec.out, ok: true, stages: this.results, ms: Date.now() - this.started, reportPath };
  }

  async writeReport(ok: boolean): Promise<string> {
    const reportPath = path.join(this.spec.out, "pipeline-report.json");
    await writeJson(reportPath, { name: this.spec.name, file: this.spec.file, ok, ms: Date.now() - this.started, stages: this.results });
    return reportPath;
  }
}

/**
 * Run a pipeline: each stage in order, skipped when its cache key (command, upstream keys, and the content of
 * every input file it names) matches the key of its last successful run.
 *
 * The pipeline only deletes or replaces what it made: each stage folder holds a marker (`.sfmed-stage.json`,
 * written when the stage starts, marked done when it succeeds) and a folder without one is never touched. A rerun
 * of an unfinished training stage continues from its newest checkpoint (`--force STAGE` starts it over). `out`
 * may not hold the pipeline's inputs, nor lie inside one.
 */
export async function runPipeline(spec: PipelineSpec, opts: PipelineOptions): Promise<PipelineResult> {
  const ids = new Set(spec.stages.map((s) => s.id));
  for (const f of opts.force ?? []) if (!ids.has(f)) throw new PipelineStageError(f, "no such stage to force", spec.file);
  if (opts.until && !ids.has(opts.until)) throw new PipelineStageError(opts.until, "no such stage for --until", spec.file);
  const plan = planStages(spec);
  await checkLayout(spec, plan);
  if (!opts.dryRun) await mkdir(spec.out, { recursive: true });
  const unlock = opts.dryRun ? async () => {} : await lockOut(spec.out);
  try {
    return await new PipelineRun(spec, opts, plan).run();
  } finally {
    await unlock();
  }
}
