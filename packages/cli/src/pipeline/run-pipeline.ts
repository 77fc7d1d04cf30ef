import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { hashPath, STAGE_MARKER } from "./hash-inputs.js";
import { splitArgs } from "./argv.js";
import { interpolate, referencedStages } from "./interpolate.js";
import type { PipelineSpec } from "./spec.js";

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

export type StageStatus = "cached" | "running" | "done" | "failed" | "skipped";

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

/** A stage failed; earlier stages' outputs are intact and re-running resumes from the failed stage. */
export class PipelineStageError extends Error {
  override readonly name = "PipelineStageError";
  constructor(
    readonly stage: string,
    reason: string,
    readonly pipelineFile: string,
  ) {
    super(`stage "${stage}" failed: ${reason}. Finished stages are kept; fix the cause and run \`sfmed pipeline run ${pipelineFile}\` again to resume from "${stage}".`);
  }
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

async function readMarker(dir: string): Promise<{ key: string; ms?: number; argv?: string[] } | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, STAGE_MARKER), "utf8")) as { key: string; ms?: number; argv?: string[] };
  } catch {
    return undefined;
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/**
 * Run a pipeline: each stage in order, skipped when its cache key (command, upstream keys, and the content of
 * every input file it names) matches the key of its last successful run. A stage's folder gets a marker file
 * only when it succeeds, so a failed stage never passes for finished.
 */
export async function runPipeline(spec: PipelineSpec, opts: PipelineOptions): Promise<PipelineResult> {
  const started = Date.now();
  const ids = new Set(spec.stages.map((s) => s.id));
  const stageDirs: Record<string, string> = {};
  const keys: Record<string, string> = {};
  const services = new Map<string, RunningService>();
  /** Service stage id → its resolved `serve …` argv (started lazily). */
  const serviceArgv = new Map<string, string[]>();
  const results: StageResult[] = [];
  const force = new Set(opts.force ?? []);
  for (const f of force) if (!ids.has(f)) throw new PipelineStageError(f, "no such stage to force", spec.file);
  if (opts.until && !ids.has(opts.until)) throw new PipelineStageError(opts.until, "no such stage for --until", spec.file);
  await mkdir(spec.out, { recursive: true });

  const emit = (e: StageEvent) => opts.onStage?.(e);
  const outRel = (p: string) => !path.relative(spec.out, p).startsWith("..");
  // Variables may use ${dir} and earlier variables.
  const vars: Record<string, string> = {};
  const keyVars: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.vars)) {
    vars[k] = interpolate(v, { vars: { ...vars, dir: path.dirname(spec.file) }, stageDirs: {} });
    keyVars[k] = interpolate(v, { vars: { ...keyVars, dir: "<dir>" }, stageDirs: {} });
  }

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

  try {
    let reachedUntil = false;
    for (const stage of spec.stages) {
      const dir = path.join(spec.out, stage.id);
      // A word that is exactly `${var}` expands to the variable's words (like an unquoted shell variable), so a
      // variable can hold several flags.
      const words = (stage.run ?? stage.service!).flatMap((w) => {
        const m = /^\$\{([a-zA-Z_][\w-]*)\}$/.exec(w);
        return m && m[1]! in vars && /\s/.test(spec.vars[m[1]!]!) ? splitArgs(spec.vars[m[1]!]!) : [w];
      });
      const earlier = new Set(Object.keys(stageDirs));
      for (const ref of referencedStages([...words, ...stage.inputs], ids)) {
        if (!earlier.has(ref)) throw new PipelineStageError(stage.id, `refers to \${${ref}}, which is not an earlier stage`, spec.file);
      }
      const deps = referencedStages([...words, ...stage.inputs], ids);
      // The key sees placeholders, not absolute folders, so moving the pipeline keeps its cache.
      const keyScope = { vars: { ...keyVars, dir: "<dir>", out: "<out>" }, stageDirs: Object.fromEntries(Object.keys(stageDirs).map((k) => [k, `<${k}>`])), serviceUrl: (k: string) => `<${k}.url>` };
      const scope = { vars: { ...vars, dir: path.dirname(spec.file), out: dir }, stageDirs };
      const argvForKey = words.map((w) => interpolate(w, keyScope));
      const argv = words.map((w) => interpolate(w, { ...scope, serviceUrl: (k) => `\${${k}.url}` }));
      const inputHashes: Record<string, string> = {};
      const inputs = stage.inputs.map((w) => interpolate(w, { ...scope, serviceUrl: () => "" }));
      for (const w of [...argv.flatMap((a) => (a.includes("=") ? [a, a.slice(a.indexOf("=") + 1)] : [a])), ...inputs]) {
        if (!w || w.startsWith("-") || w.includes("${")) continue;
        const p = path.resolve(w);
        const name = path.relative(path.dirname(spec.file), p);
        if (outRel(p) || inputHashes[name] !== undefined || !existsSync(p)) continue;
        inputHashes[name] = await hashPath(p);
      }
      const key = sha(JSON.stringify({ argv: argvForKey, deps: deps.map((d) => [d, keys[d]]), inputs: Object.entries(inputHashes).sort(), force: force.has(stage.id) ? started : 0 }));
      keys[stage.id] = key;
      stageDirs[stage.id] = dir;

      if (stage.service) {
        serviceArgv.set(stage.id, argv);
        continue;
      }
      if (reachedUntil) {
        results.push({ id: stage.id, status: "skipped", key, dir, ms: 0 });
        emit({ stage: stage.id, status: "skipped" });
        continue;
      }
      const t = Date.now();
      const marker = await readMarker(dir);
      if (marker?.key === key && !force.has(stage.id)) {
        // A cached stage reports the time and command of the run that produced it.
        results.push({ id: stage.id, status: "cached", key, dir, ms: marker.ms ?? 0, ...(marker.argv ? { argv: marker.argv } : {}) });
        emit({ stage: stage.id, status: "cached" });
      } else if (opts.dryRun) {
        results.push({ id: stage.id, status: "skipped", key, dir, ms: 0, argv });
        emit({ stage: stage.id, status: "skipped", argv });
      } else {
        // Services this stage names start now (lazily), so fully cached runs never load a model.
        const urls: Record<string, string> = {};
        for (const d of deps) if (serviceArgv.has(d)) urls[d] = (await startServiceFor(d)).url;
        const finalArgv = words.map((w) => interpolate(w, { ...scope, serviceUrl: (k) => urls[k] ?? "" }));
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        emit({ stage: stage.id, status: "running", argv: finalArgv });
        let code: number;
        let error: string | undefined;
        try {
          code = await opts.runCommand(finalArgv);
        } catch (err) {
          code = 1;
          error = (err as Error).message;
        }
        const ms = Date.now() - t;
        if (code !== 0) {
          error ??= `sfmed ${finalArgv[0]} exited with code ${code}`;
          results.push({ id: stage.id, status: "failed", key, dir, ms, argv: finalArgv, error });
          emit({ stage: stage.id, status: "failed", ms, error });
          await writeReport(spec, results, started, false);
          throw new PipelineStageError(stage.id, error, path.relative(process.cwd(), spec.file) || spec.file);
        }
        await writeAtomic(path.join(dir, STAGE_MARKER), JSON.stringify({ key, argv: finalArgv, finishedAt: new Date().toISOString(), ms }, null, 2) + "\n");
        results.push({ id: stage.id, status: "done", key, dir, ms, argv: finalArgv });
        emit({ stage: stage.id, status: "done", ms });
      }
      if (opts.until === stage.id) reachedUntil = true;
    }
  } finally {
    for (const s of services.values()) await s.close().catch(() => undefined);
  }
  const reportPath = await writeReport(spec, results, started, true);
  return { name: spec.name, out: spec.out, ok: true, stages: results, ms: Date.now() - started, reportPath };
}

async function writeReport(spec: PipelineSpec, stages: StageResult[], started: number, ok: boolean): Promise<string> {
  const reportPath = path.join(spec.out, "pipeline-report.json");
  await writeAtomic(reportPath, JSON.stringify({ name: spec.name, file: spec.file, ok, ms: Date.now() - started, stages }, null, 2) + "\n");
  return reportPath;
}
