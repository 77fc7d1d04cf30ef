import { existsSync } from "node:fs";
import { readLines } from "@sfmed/schema";
import { JobConfigError } from "./errors.js";
import type { TrainerJob } from "./jobs.js";

/**
 * Online merging (OnDARE/OnTIES) adds α·τ' — the sparsified task vector τ = θ_SFT − θ_b — to the weights on every
 * optimizer step, independent of the learning rate. Over a run the weights therefore move by about
 * α × (optimizer steps) task vectors. Above {@link ALPHA_STEPS_WARN} the job builders and the launch check warn;
 * above {@link ALPHA_STEPS_MAX} they refuse unless `optimizer.allow_large_alpha: true`. trainer-py applies the
 * same bounds. The official recipe (run_dpo_om.sh) uses α = 1e-7 with p = 0.01.
 */
export const ALPHA_STEPS_WARN = 1e-3;
/** See {@link ALPHA_STEPS_WARN}. */
export const ALPHA_STEPS_MAX = 1e-2;
/** The official online-merging values (Lu et al. 2024, run_dpo_om.sh). */
export const OFFICIAL_ONLINE_MERGE = { p: 0.01, alpha: 1e-7 } as const;

/** A condition worth telling the user about that does not stop the job. */
export interface JobWarning {
  code: "alpha_steps";
  /** Key path to change, e.g. `optimizer.alpha`. */
  field: string;
  message: string;
  file?: string;
  alpha: number;
  plannedSteps: number;
  product: number;
}

/** What the planned step count depends on besides the job itself. */
export interface StepPlanContext {
  /** Records in `data.train` (before `data.max_samples` and the `data.eval_ratio` hold-out). */
  datasetRows?: number;
  /** Processes that share each optimizer step (GPUs across all nodes). @default 1 */
  worldSize?: number;
}

interface StepPlan {
  steps: number;
  how: string;
}

function plan(job: TrainerJob, ctx: StepPlanContext): StepPlan | undefined {
  const t = job.train ?? {};
  if (t.max_steps !== undefined) return { steps: t.max_steps, how: "train.max_steps" };
  if (ctx.datasetRows === undefined) return undefined;
  let rows = ctx.datasetRows;
  if (job.data?.max_samples !== undefined) rows = Math.min(rows, job.data.max_samples);
  // The trainer holds out eval_ratio of train (at least one record) when no eval file is given.
  if (!job.data?.eval && job.data?.eval_ratio) rows -= Math.max(1, Math.round(rows * job.data.eval_ratio));
  rows = Math.max(0, rows);
  const world = ctx.worldSize ?? 1;
  const perStep = (t.batch_size ?? 1) * (t.grad_accum ?? 1) * world;
  const epochs = t.epochs ?? 1;
  // An upper bound on the trainer's count (it drops a final partial batch), so the guard never under-counts;
  // trainer-py's own guard (config.planned_steps) counts the same way.
  const perEpoch = Math.max(1, Math.ceil(rows / perStep));
  return {
    steps: Math.max(1, Math.ceil(epochs * perEpoch)),
    how: `${epochs} epoch(s) × ceil(${rows} rows / (batch ${t.batch_size ?? 1} × grad_accum ${t.grad_accum ?? 1} × ${world} process(es)))`,
  };
}

/**
 * Optimizer steps a job will take: `train.max_steps` when set, otherwise
 * epochs × ceil(rows / (batch_size × grad_accum × world size)); undefined when neither is known.
 */
export function plannedOptimizerSteps(job: TrainerJob, ctx: StepPlanContext = {}): number | undefined {
  return plan(job, ctx)?.steps;
}

const fmt = (x: number) => String(Number(x.toPrecision(3)));

/**
 * Check an online-merging job's α against its planned optimizer steps.
 * Returns a warning when α × steps > {@link ALPHA_STEPS_WARN} (or above the maximum with `allow_large_alpha`),
 * undefined when the product is small, the optimizer is not ondare/onties, or the step count is unknown.
 * @throws JobConfigError (`field: "optimizer.alpha"`, `code: "alpha_steps"`) when α × steps > {@link ALPHA_STEPS_MAX}
 *   and `optimizer.allow_large_alpha` is not true.
 */
export function checkMergeAlpha(job: TrainerJob, ctx: StepPlanContext & { file?: string } = {}): JobWarning | undefined {
  const o = job.optimizer;
  if (!o || (o.name !== "ondare" && o.name !== "onties")) return undefined;
  const alpha = o.alpha ?? 0;
  if (!(alpha > 0)) return undefined;
  const p = plan(job, ctx);
  if (!p) return undefined;
  const product = alpha * p.steps;
  if (product <= ALPHA_STEPS_WARN) return undefined;
  const over = product > ALPHA_STEPS_MAX;
  const what =
    `α × planned optimizer steps = ${fmt(alpha)} × ${p.steps} (${p.how}) = ${fmt(product)}, above ${over ? `the limit ${ALPHA_STEPS_MAX}` : `${ALPHA_STEPS_WARN}`}. ` +
    `Online merging (${o.name}) adds α·τ' (the sparsified task vector τ = θ_SFT − θ_base) to the weights on every optimizer step, ` +
    `independent of lr, so this run moves the weights by about ${fmt(product)} task vectors. ` +
    `The official value is α = ${OFFICIAL_ONLINE_MERGE.alpha} (with p = ${OFFICIAL_ONLINE_MERGE.p}).`;
  const info = { code: "alpha_steps" as const, field: "optimizer.alpha", alpha, plannedSteps: p.steps, product, ...(ctx.file ? { file: ctx.file } : {}) };
  if (over && o.allow_large_alpha !== true) throw new JobConfigError(`${what} Set optimizer.allow_large_alpha: true to run it anyway.`, info);
  return { ...info, message: `${ctx.file ? `${ctx.file}: ` : ""}optimizer.alpha: ${what}${over ? " Running anyway (optimizer.allow_large_alpha)." : ""}` };
}

/** Non-blank lines of a JSONL file: the records the trainer reads. */
export async function countJsonlRows(file: string): Promise<number> {
  let n = 0;
  for await (const l of readLines(file)) if (l.text.trim()) n++;
  return n;
}

/**
 * The launch-time check: {@link checkMergeAlpha} with the record count of `data.train` (read only when needed:
 * an online-merging job with α > 0 and no `train.max_steps`, whose data file exists).
 * @throws JobConfigError when the product is over the limit.
 */
export async function checkJobPlan(job: TrainerJob, ctx: StepPlanContext & { file?: string } = {}): Promise<JobWarning[]> {
  const o = job.optimizer;
  const merges = (o?.name === "ondare" || o?.name === "onties") && (o.alpha ?? 0) > 0;
  if (!merges) return [];
  let rows = ctx.datasetRows;
  const train = job.data?.train;
  if (rows === undefined && job.train?.max_steps === undefined && train && existsSync(train)) rows = await countJsonlRows(train);
  const w = checkMergeAlpha(job, { ...ctx, ...(rows !== undefined ? { datasetRows: rows } : {}) });
  return w ? [w] : [];
}
