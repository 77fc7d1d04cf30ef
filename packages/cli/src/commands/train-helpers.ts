// What `sfmed train` does around the library: --set overrides, Hub model ids, the progress display of trainer
// events, and SIGINT/SIGTERM → checkpoint → exit 130/143.
import { rm, stat, symlink } from "node:fs/promises";
import path from "node:path";
import { ensureTrainerEnv, type JobSummary, type StepEvent, type TrainerEvent } from "@sfmed/train-runner";
import { UsageError, type CliContext } from "../context.js";
import { createProgress } from "../progress.js";
import { InterruptedError, watchStopSignals, type StopSignal } from "../signals.js";
import { resolveModelArg } from "./hub-inputs.js";

/** The trainer's Python environment (built once), its set-up lines shown as info. */
export const trainerEnv = (c: CliContext, python: string | undefined) => ensureTrainerEnv({ ...(python ? { python } : {}), onLog: (l) => c.info(l) });

/** `--set a.b=value`: value parsed as JSON when it parses (numbers, booleans, arrays), else taken as a string. */
export function applySets(job: Record<string, unknown>, sets: string[]): Record<string, unknown> {
  const out = structuredClone(job);
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set needs KEY=VALUE (e.g. data.train=sft.jsonl), got "${s}"`);
    const keys = s.slice(0, eq).split(".");
    // Nothing may reach an object prototype: these keys are refused anywhere in the path.
    const bad = keys.find((k) => k === "__proto__" || k === "constructor" || k === "prototype" || k === "");
    if (bad !== undefined) throw new UsageError(`--set "${s.slice(0, eq)}": the key "${bad}" is not allowed`);
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    let node = out;
    for (const k of keys.slice(0, -1)) {
      if (!Object.hasOwn(node, k) || !node[k] || typeof node[k] !== "object" || Array.isArray(node[k])) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return out;
}

/**
 * A job's `model:` may be a Hub id (`Qwen/Qwen2.5-7B`, `ORG/NAME@REV`, `hf://ORG/NAME`): loading the job made it a
 * path under the job file's folder, so when that path does not exist the id as written is fetched into the HF cache
 * (weights, config, tokenizer) and the snapshot folder used instead.
 */
export async function hubModelOfJob(model: string, config: string, sets: Record<string, unknown>, quiet: boolean): Promise<string> {
  // No model (a job the trainer completes itself, e.g. from its resume checkpoint) or a local folder: nothing to fetch.
  if (!model || (await stat(model).then(() => true, () => false))) return model;
  const written = typeof sets.model === "string" ? sets.model : path.relative(path.dirname(path.resolve(config)), model).split(path.sep).join("/");
  const id = written.replace(/^hf:\/(?!\/)/, "hf://");
  const resolved = await resolveModelArg(id, quiet);
  return resolved === id ? model : resolved;
}

/** Point `output_dir/model` at the checkpoint to use downstream (best, else final): a stable path for pipelines. */
async function linkModel(s: JobSummary): Promise<void> {
  if (s.status !== "completed" || !s.model) return;
  const link = path.join(s.outputDir, "model");
  if (path.resolve(s.model) === link) return;
  await rm(link, { force: true, recursive: false }).catch(() => undefined);
  await symlink(path.relative(s.outputDir, s.model), link, "dir");
}

/** Progress bar on a TTY (step, loss, lr, tokens/s, ETA); `--json` passes events through to stdout instead. */
function eventRenderer(c: CliContext, json: boolean | undefined, label: string) {
  const bar = createProgress({ label, unit: "step", quiet: c.quiet || json });
  let total = 0;
  const onStep = (s: StepEvent) => {
    if (typeof s.total_steps === "number" && s.total_steps !== total) bar.setTotal((total = s.total_steps));
    bar.update(s.step, {
      ...(s.loss !== undefined ? { loss: s.loss.toFixed(4) } : {}),
      ...(s.lr !== undefined ? { lr: s.lr.toExponential(2) } : {}),
      ...(s.tokens_per_s !== undefined ? { "tok/s": Math.round(s.tokens_per_s) } : {}),
    });
    if (!bar.active && s.step % 10 === 0) c.info(`step ${s.step}${total ? `/${total}` : ""} loss ${s.loss?.toFixed(4) ?? "?"}`);
  };
  const onEvent = (e: TrainerEvent) => {
    if (json) c.stdout.write(JSON.stringify(e) + "\n");
    else if (e.event === "start" && typeof e.total_steps === "number") bar.setTotal((total = e.total_steps));
    else if (e.event === "step") onStep(e as StepEvent);
    else if (bar.active) return;
    else if (e.event === "eval" && typeof e.eval_loss === "number") c.info(`eval loss ${(e.eval_loss as number).toFixed(4)}`);
    else if (e.event === "checkpoint") c.info(`checkpoint ${String(e.path)}`);
  };
  return { onEvent, stop: () => bar.stop() };
}

/**
 * SIGINT (Ctrl-C) or SIGTERM aborts the run: the trainer checkpoints and the command ends as interrupted (exit
 * 130 or 143). A second signal finds no listener here and ends the process at once.
 */
function stopController(c: CliContext): { signal: AbortSignal; readonly received: StopSignal | undefined; dispose(): void } {
  const ac = new AbortController();
  const w = watchStopSignals((sig) => {
    c.info(`stopping (${sig}): the trainer is saving a checkpoint (Ctrl-C again to force)`);
    w.dispose();
    ac.abort();
  });
  return {
    signal: ac.signal,
    get received() {
      return w.received;
    },
    dispose: () => w.dispose(),
  };
}

/** Run (or resume) a job; an interrupted run becomes an InterruptedError, so it never exits 0. */
export async function runStoppable(
  c: CliContext,
  json: boolean | undefined,
  label: string,
  start: (signal: AbortSignal, onEvent: (e: TrainerEvent) => void) => Promise<JobSummary>,
): Promise<void> {
  const r = eventRenderer(c, json, label);
  const stop = stopController(c);
  let summary: JobSummary;
  try {
    summary = await start(stop.signal, r.onEvent);
  } catch (err) {
    if (stop.received) throw new InterruptedError(stop.received, `${label} stopped by ${stop.received} before the trainer could checkpoint: ${(err as Error).message}`, { cause: err });
    throw err;
  } finally {
    stop.dispose();
    r.stop();
  }
  if (summary.status === "interrupted") {
    const mins = (summary.durationMs / 60000).toFixed(1);
    throw new InterruptedError(stop.received ?? "SIGINT", `${label} interrupted after ${mins} min, checkpoint saved; resume with: sfmed train resume ${summary.outputDir}`);
  }
  await linkModel(summary);
  if (!json) c.info(`done in ${(summary.durationMs / 60000).toFixed(1)} min → ${summary.outputDir}${summary.bestCheckpoint ? ` (best ${summary.bestCheckpoint})` : ""}`);
}
