import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { atomicWrite, isInside, isProcessAlive, sweepStaleTemps } from "@sfmed/schema";
import { InterruptedError, signalExitCode, type StopSignal } from "../signals.js";
import { DEFAULT_HASH_LIMITS, fingerprintPath, hashHubInput, hashPath, InputHashError, projectRoots, STAGE_MARKER, unsafeInput, type HashLimits } from "./hash-inputs.js";
import { splitArgs } from "./argv.js";
import { interpolate, referencedStages } from "./interpolate.js";
import type { PipelineSpec } from "./spec.js";

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

/**
 * A stage failed; earlier stages' outputs are intact and re-running resumes from the failed stage (a training
 * stage from its newest checkpoint).
 */
export class PipelineStageError extends Error {
  override readonly name = "PipelineStageError";
  constructor(
    readonly stage: string,
    reason: string,
    readonly pipelineFile: string,
    resumable = false,
  ) {
    super(`stage "${stage}" failed: ${reason}. Finished stages are kept; fix the cause and run \`sfmed pipeline run ${pipelineFile}\` again to resume from "${stage}"${resumable ? " (training continues from its newest checkpoint)" : ""}.`);
  }
}

/**
 * The pipeline will not write where it would destroy or mix up something it did not make: a stage folder (or a
 * report file) that exists without the pipeline's marker, or an `out:` folder that holds the pipeline's inputs or
 * lies inside one. `folder` is the path at stake.
 */
export class PipelineOutputError extends Error {
  override readonly name = "PipelineOutputError";
  constructor(
    readonly code: "not_ours" | "other_stage" | "input_in_out" | "out_in_input" | "stale_checkpoints" | "locked",
    readonly folder: string,
    message: string,
    readonly stage?: string,
  ) {
    super(message);
  }
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** What a stage folder's marker says: whose folder it is, and whether the stage finished. */
interface StageMarker {
  /** Absent in markers of older versions, which were written only on success. */
  stage?: string;
  pipeline?: string;
  state?: "running" | "done";
  key: string;
  /** `key` without `--force`'s nonce. */
  baseKey?: string;
  ms?: number;
  argv?: string[];
}

async function readMarker(dir: string): Promise<StageMarker | undefined> {
  try {
    const m = JSON.parse(await readFile(path.join(dir, STAGE_MARKER), "utf8")) as StageMarker;
    return m && typeof m.key === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

const writeJson = (file: string, value: unknown) => atomicWrite(file, [JSON.stringify(value, null, 2) + "\n"]);

const TRAIN_STAGES = new Set(["pt", "sft", "rm", "dpo"]);
/** `train pt|sft|rm|dpo`: a rerun continues from the newest checkpoint instead of starting over. */
const isTraining = (words: string[]) => words[0] === "train" && TRAIN_STAGES.has(words[1] ?? "");

/** `checkpoint-N` folders anywhere in the top levels of `dir` (a training stage's output). */
async function hasCheckpoints(dir: string, depth = 3): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (/^checkpoint-\d+$/.test(e.name)) return true;
    if (depth > 1 && (await hasCheckpoints(path.join(dir, e.name), depth - 1))) return true;
  }
  return false;
}

/** The report files the pipeline writes into `out`, with how to recognise its own copies. */
export const REPORT_FILES: Record<string, (text: string) => boolean> = {
  "pipeline-report.json": (t) => {
    try {
      const v = JSON.parse(t) as { stages?: unknown; file?: unknown };
      return Array.isArray(v.stages) && typeof v.file === "string";
    } catch {
      return false;
    }
  },
  "report.html": (t) => t.includes("sfmed pipeline report"),
};

const isDirectory = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

interface PlannedStage {
  stage: PipelineSpec["stages"][number];
  dir: string;
  words: string[];
  deps: string[];
  argvForKey: string[];
  /** Service URLs left as `${id.url}`. */
  argv: string[];
  /** Existing paths the command and `inputs:` name outside the stage folders; `named` for `inputs:`. */
  inputs: Array<{ path: string; named: boolean }>;
  /** `hf://` URIs the command and `inputs:` name, hashed by the commit they resolve to. */
  hubInputs: string[];
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
  const started = Date.now();
  const ids = new Set(spec.stages.map((s) => s.id));
  const keys: Record<string, string> = {};
  const services = new Map<string, RunningService>();
  /** Service stage id → its resolved `serve …` argv (started lazily). */
  const serviceArgv = new Map<string, string[]>();
  const results: StageResult[] = [];
  const force = new Set(opts.force ?? []);
  const shownFile = path.relative(process.cwd(), spec.file) || spec.file;
  const markerPipeline = path.relative(spec.out, spec.file);
  const limits = opts.hashLimits ?? DEFAULT_HASH_LIMITS;
  for (const f of force) if (!ids.has(f)) throw new PipelineStageError(f, "no such stage to force", spec.file);
  if (opts.until && !ids.has(opts.until)) throw new PipelineStageError(opts.until, "no such stage for --until", spec.file);

  const plan = planStages(spec);
  await checkLayout(spec, plan);
  if (!opts.dryRun) await mkdir(spec.out, { recursive: true });
  const unlock = opts.dryRun ? async () => {} : await lockOut(spec.out);
  try {
    return await runLocked();
  } finally {
    await unlock();
  }

  async function runLocked(): Promise<PipelineResult> {
    if (!opts.dryRun) {
      // Temp files a killed run left behind (their writer is gone) in `out` and in the stage folders we own.
      const swept = await sweepStaleTemps(spec.out);
      for (const p of plan) if (await readMarker(p.dir)) swept.push(...(await sweepStaleTemps(p.dir)));
      if (swept.length) opts.onNotice?.(`removed ${swept.length} temp file(s) left by an interrupted run`);
    }

    const emit = (e: StageEvent) => opts.onStage?.(e);
    const stopSignal = (): StopSignal | undefined => {
      if (!opts.signal?.aborted) return undefined;
      return opts.signal.reason === "SIGTERM" ? "SIGTERM" : "SIGINT";
    };
    const interrupted = (stage: string, sig: StopSignal) =>
      new InterruptedError(sig, `pipeline stopped by ${sig} during stage "${stage}"; finished stages are kept: run \`sfmed pipeline run ${shownFile}\` again to resume from "${stage}"`);

    const startServiceFor = async (id: string): Promise<RunningService> => {
      let s = services.get(id);
      if (s) return s;
      const t = Date.now();
      emit({ stage: id, status: "running", argv: serviceArgv.get(id)! });
      try {
        s = await opts.startService(serviceArgv.get(id)!);
      } catch (err) {
        emit({ stage: id, status: "failed", error: (err as Error).message });
        throw new PipelineStageError(id, (err as Error).message, spec.file);
      }
      services.set(id, s);
      emit({ stage: id, status: "done", ms: Date.now() - t });
      return s;
    };

    const roots = projectRoots(spec.file);
    try {
      let reachedUntil = false;
      for (const p of plan) {
        const { stage, dir, words, deps } = p;
        const inputHashes: Record<string, string> = {};
        for (const inp of p.inputs) {
          const name = path.relative(path.dirname(spec.file), inp.path);
          if (inputHashes[name] !== undefined) continue;
          // Inside the project, or named under `inputs:`: content. Elsewhere: size and time, never a walk.
          inputHashes[name] = inp.named || roots.some((r) => isInside(r, inp.path)) ? await hashPath(inp.path, stage.id, limits) : await fingerprintPath(inp.path);
        }
        for (const uri of p.hubInputs) inputHashes[uri] ??= await hashHubInput(uri, stage.id);
        const keyOf = (nonce: number) => sha(JSON.stringify({ argv: p.argvForKey, deps: deps.map((d) => [d, keys[d]]), inputs: Object.entries(inputHashes).sort(), force: nonce }));
      const key = keyOf(force.has(stage.id) ? started : 0);
      // The key without --force's nonce: an interrupted forced run still resumes on a plain rerun.
      const baseKey = force.has(stage.id) ? keyOf(0) : key;
        keys[stage.id] = key;

        if (stage.service) {
          serviceArgv.set(stage.id, p.argv);
          continue;
        }
        if (reachedUntil) {
          results.push({ id: stage.id, status: "skipped", key, dir, ms: 0 });
          emit({ stage: stage.id, status: "skipped" });
          continue;
        }
        const stop = stopSignal();
        if (stop) throw interrupted(stage.id, stop);
        const t = Date.now();
        const marker = await readMarker(dir);
        const finished = marker !== undefined && (marker.state ?? "done") === "done";
        if (finished && marker.key === key && !force.has(stage.id)) {
          // A cached stage reports the time and command of the run that produced it.
          results.push({ id: stage.id, status: "cached", key, dir, ms: marker.ms ?? 0, ...(marker.argv ? { argv: marker.argv } : {}) });
          emit({ stage: stage.id, status: "cached" });
        } else if (opts.dryRun) {
          results.push({ id: stage.id, status: "skipped", key, dir, ms: 0, argv: p.argv });
          emit({ stage: stage.id, status: "skipped", argv: p.argv });
        } else {
          const training = isTraining(words);
          // An unfinished training run keeps its checkpoints: the same command continues from them.
          let resume = false;
          if (training && marker && !finished && !force.has(stage.id) && (await hasCheckpoints(dir))) {
            if ((marker.baseKey ?? marker.key) !== baseKey) {
              throw new PipelineOutputError(
                "stale_checkpoints",
                dir,
                `stage "${stage.id}": ${dir} holds checkpoints of an unfinished run whose command, inputs or upstream stages have changed since; they are kept. Run with --force ${stage.id} to start it over (deleting them), or move the folder away`,
                stage.id,
              );
            }
            resume = true;
          }
          // Services this stage names start now (lazily), so fully cached runs never load a model.
          const urls: Record<string, string> = {};
          for (const d of deps) if (serviceArgv.has(d)) urls[d] = (await startServiceFor(d)).url;
          const scope = stageScope(spec, plan, p);
          const finalArgv = [...words.map((w) => interpolate(w, { ...scope, serviceUrl: (k) => urls[k] ?? "" })), ...(resume ? ["--resume"] : [])];
          if (!resume) {
            // Ours (checkLayout saw the marker, or the folder was empty or absent): safe to clear.
            await rm(dir, { recursive: true, force: true });
            await mkdir(dir, { recursive: true });
          }
          const startedAt = new Date().toISOString();
          await writeJson(path.join(dir, STAGE_MARKER), { stage: stage.id, pipeline: markerPipeline, state: "running", key, baseKey, startedAt });
          emit({ stage: stage.id, status: resume ? "resumed" : "running", argv: finalArgv });
          let code: number;
          let error: string | undefined;
          try {
            code = await opts.runCommand(finalArgv);
          } catch (err) {
            code = 1;
            error = (err as Error).message;
          }
          const ms = Date.now() - t;
          const sig = stopSignal() ?? (code === signalExitCode("SIGINT") ? "SIGINT" : code === signalExitCode("SIGTERM") ? "SIGTERM" : undefined);
          if (code !== 0 && sig) {
            // Stopped, not finished: the marker stays "running", so the next run does this stage again.
            results.push({ id: stage.id, status: "interrupted", key, dir, ms, argv: finalArgv, error: `stopped by ${sig}` });
            emit({ stage: stage.id, status: "interrupted", ms });
            await writeReport(spec, results, started, false);
            throw interrupted(stage.id, sig);
          }
          if (code !== 0) {
            error ??= `sfmed ${finalArgv[0]} exited with code ${code}`;
            results.push({ id: stage.id, status: "failed", key, dir, ms, argv: finalArgv, error });
            emit({ stage: stage.id, status: "failed", ms, error });
            await writeReport(spec, results, started, false);
            throw new PipelineStageError(stage.id, error, shownFile, training);
          }
          await writeJson(path.join(dir, STAGE_MARKER), { stage: stage.id, pipeline: markerPipeline, state: "done", key, baseKey, argv: finalArgv, startedAt, finishedAt: new Date().toISOString(), ms });
          results.push({ id: stage.id, status: "done", key, dir, ms, argv: finalArgv });
          emit({ stage: stage.id, status: "done", ms });
        }
        if (opts.until === stage.id) reachedUntil = true;
      }
    } finally {
      for (const s of services.values()) await s.close().catch(() => undefined);
    }
    // A dry run writes nothing, not even the report.
    const reportPath = opts.dryRun ? path.join(spec.out, "pipeline-report.json") : await writeReport(spec, results, started, true);
    return { name: spec.name, out: spec.out, ok: true, stages: results, ms: Date.now() - started, reportPath };
  }
}

const LOCK = ".sfmed-pipeline.lock";

/**
 * Hold `out` for this process: two runs writing the same stage folders would delete each other's files. A lock
 * whose process is gone (killed) is taken over.
 */
async function lockOut(out: string): Promise<() => Promise<void>> {
  const file = path.join(out, LOCK);
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }) + "\n";
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, mine, { flag: "wx" });
      return async () => {
        if ((await readFile(file, "utf8").catch(() => "")) === mine) await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(await readFile(file, "utf8")) as typeof holder;
      } catch {
        /* torn: treat as stale */
      }
      if (holder.pid && (holder.host !== hostname() || isProcessAlive(holder.pid))) {
        throw new PipelineOutputError("locked", out, `${out} is in use by another \`sfmed pipeline run\` (pid ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ""}); wait for it to finish, or delete ${file} if that run is gone`);
      }
      await rm(file, { force: true });
    }
  }
  throw new PipelineOutputError("locked", out, `could not lock ${out} (${file})`);
}

/** Variables may use ${dir} and earlier variables. */
function resolveVars(spec: PipelineSpec): { vars: Record<string, string>; keyVars: Record<string, string> } {
  const vars: Record<string, string> = {};
  const keyVars: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.vars)) {
    vars[k] = interpolate(v, { vars: { ...vars, dir: path.dirname(spec.file) }, stageDirs: {} });
    keyVars[k] = interpolate(v, { vars: { ...keyVars, dir: "<dir>" }, stageDirs: {} });
  }
  return { vars, keyVars };
}

function stageScope(spec: PipelineSpec, plan: PlannedStage[], p: PlannedStage) {
  const stageDirs: Record<string, string> = {};
  for (const q of plan) {
    if (q === p) break;
    stageDirs[q.stage.id] = q.dir;
  }
  return { vars: { ...resolveVars(spec).vars, dir: path.dirname(spec.file), out: p.dir }, stageDirs };
}

/** Every stage's words, dependencies, key command line and the existing paths it reads, before anything runs. */
function planStages(spec: PipelineSpec): PlannedStage[] {
  const ids = new Set(spec.stages.map((s) => s.id));
  const stageDirs: Record<string, string> = {};
  const { vars, keyVars } = resolveVars(spec);
  const stageDirOf = (p: string) => spec.stages.find((s) => isInside(path.join(spec.out, s.id), p));
  const plan: PlannedStage[] = [];
  for (const stage of spec.stages) {
    const dir = path.join(spec.out, stage.id);
    // A word that is exactly `${var}` expands to the variable's words (like an unquoted shell variable), so a
    // variable can hold several flags.
    const words = (stage.run ?? stage.service!).flatMap((w) => {
      const m = /^\$\{([a-zA-Z_][\w-]*)\}$/.exec(w);
      return m && m[1]! in vars && /\s/.test(spec.vars[m[1]!]!) ? splitArgs(spec.vars[m[1]!]!) : [w];
    });
    const earlier = new Set(Object.keys(stageDirs));
    const deps = referencedStages([...words, ...stage.inputs], ids);
    for (const ref of deps) {
      if (!earlier.has(ref)) throw new PipelineStageError(stage.id, `refers to \${${ref}}, which is not an earlier stage`, spec.file);
    }
    // The key sees placeholders, not absolute folders, so moving the pipeline keeps its cache.
    const keyScope = { vars: { ...keyVars, dir: "<dir>", out: "<out>" }, stageDirs: Object.fromEntries(Object.keys(stageDirs).map((k) => [k, `<${k}>`])), serviceUrl: (k: string) => `<${k}.url>` };
    const scope = { vars: { ...vars, dir: path.dirname(spec.file), out: dir }, stageDirs: { ...stageDirs } };
    const argvForKey = words.map((w) => interpolate(w, keyScope));
    const argv = words.map((w) => interpolate(w, { ...scope, serviceUrl: (k) => `\${${k}.url}` }));
    const named = stage.inputs.map((w) => interpolate(w, { ...scope, serviceUrl: () => "" }));
    const inputs: PlannedStage["inputs"] = [];
    const hubInputs: string[] = [];
    const consider = (w: string, isNamed: boolean) => {
      if (!w || w.startsWith("-") || w.includes("${")) return;
      // A Hub URI is never a local path (path.resolve would make it one).
      if (w.startsWith("hf://")) {
        if (!hubInputs.includes(w)) hubInputs.push(w);
        return;
      }
      const p = path.resolve(w);
      // Paths in stage folders are outputs of this pipeline (the stage's own or an earlier one's).
      if (stageDirOf(p) || !existsSync(p)) return;
      if (!inputs.some((i) => i.path === p)) inputs.push({ path: p, named: isNamed });
      else if (isNamed) inputs.find((i) => i.path === p)!.named = true;
    };
    // The first word is the subcommand's name, not a path.
    for (const a of argv.slice(1)) {
      consider(a, false);
      if (a.includes("=")) consider(a.slice(a.indexOf("=") + 1), false);
    }
    for (const w of named) consider(w, true);
    plan.push({ stage, dir, words, deps, argvForKey, argv, inputs, hubInputs });
    stageDirs[stage.id] = dir;
  }
  return plan;
}

/**
 * Refuse, before anything runs, a layout where the pipeline would delete or overwrite what it did not make, or
 * read its own outputs as inputs: stage folders and report files must be absent, empty or the pipeline's own;
 * `out` must neither hold an input nor lie inside one.
 */
async function checkLayout(spec: PipelineSpec, plan: PlannedStage[]): Promise<void> {
  const file = path.relative(process.cwd(), spec.file) || spec.file;
  const roots = projectRoots(spec.file);
  for (const p of plan) {
    for (const { path: input, named } of p.inputs) {
      // Only inputs hashed by content are walked (see runPipeline); the others are never read.
      const walked = named || roots.some((r) => isInside(r, input));
      const unsafe = walked ? unsafeInput(input) : undefined;
      if (unsafe) throw new InputHashError("unsafe", input, p.stage.id, `${unsafe}: the pipeline never hashes it. Name the files or folders the stage reads`);
      if (isInside(spec.out, input)) {
        const what = path.resolve(spec.out) === path.dirname(spec.file) ? "the pipeline file's own folder" : "a folder";
        throw new PipelineOutputError(
          "input_in_out",
          spec.out,
          `${file}: out: ${spec.out} is ${what} that holds the input ${input} (read by stage "${p.stage.id}"); stage folders there could replace or mix with your files. Set \`out:\` to a folder of its own, e.g. \`out: out\``,
          p.stage.id,
        );
      }
      if (walked && isDirectory(input) && isInside(input, spec.out)) {
        throw new PipelineOutputError(
          "out_in_input",
          spec.out,
          `${file}: out: ${spec.out} lies inside the input ${input} (read by stage "${p.stage.id}"), so every run would change that input. Set \`out:\` to a folder outside it, or name narrower inputs`,
          p.stage.id,
        );
      }
    }
  }
  for (const p of plan) {
    if (p.stage.service || !existsSync(p.dir)) continue;
    if (!isDirectory(p.dir)) {
      throw new PipelineOutputError("not_ours", p.dir, `stage "${p.stage.id}": ${p.dir} exists and is not a folder; the pipeline does not replace files it did not make. Move it away, or set \`out:\` in ${file} to another folder`, p.stage.id);
    }
    const marker = await readMarker(p.dir);
    if (marker) {
      if (marker.stage !== undefined && marker.stage !== p.stage.id) {
        throw new PipelineOutputError("other_stage", p.dir, `stage "${p.stage.id}": ${p.dir} belongs to stage "${marker.stage}"${marker.pipeline ? ` of ${path.resolve(spec.out, marker.pipeline)}` : ""}; the pipeline leaves it alone. Move it away, or set \`out:\` in ${file} to another folder`, p.stage.id);
      }
      continue;
    }
    if ((await readdir(p.dir)).length > 0) {
      throw new PipelineOutputError(
        "not_ours",
        p.dir,
        `stage "${p.stage.id}": ${p.dir} exists and was not made by this pipeline (it has no ${STAGE_MARKER}); the pipeline only deletes or replaces folders it made. Move it away (or delete it yourself), or set \`out:\` in ${file} to another folder`,
        p.stage.id,
      );
    }
  }
  for (const [name, ours] of Object.entries(REPORT_FILES)) {
    const f = path.join(spec.out, name);
    if (existsSync(f) && !ours(await readFile(f, "utf8").catch(() => ""))) {
      throw new PipelineOutputError("not_ours", f, `${f} exists and is not a pipeline report; the pipeline does not overwrite it. Move it away, or set \`out:\` in ${file} to another folder`);
    }
  }
}

async function writeReport(spec: PipelineSpec, stages: StageResult[], started: number, ok: boolean): Promise<string> {
  const reportPath = path.join(spec.out, "pipeline-report.json");
  await writeJson(reportPath, { name: spec.name, file: spec.file, ok, ms: Date.now() - started, stages });
  return reportPath;
}
