import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";
import { JobConfigError, JobValidationError } from "./errors.js";
import { checkMergeAlpha, OFFICIAL_ONLINE_MERGE, type JobWarning, type StepPlanContext } from "./merge-guard.js";
import { trainerDir } from "./trainer-env.js";

/** Training hyper-parameters (trainer-py `train` block). */
export interface TrainOptions {
  epochs?: number;
  max_steps?: number;
  batch_size?: number;
  grad_accum?: number;
  lr?: number;
  weight_decay?: number;
  scheduler?: "cosine" | "linear" | "constant";
  warmup_steps?: number;
  warmup_ratio?: number;
  max_grad_norm?: number;
  dropout?: number;
  gradient_checkpointing?: boolean;
  bf16?: "auto" | boolean;
  seed?: number;
  logging_steps?: number;
  eval_steps?: number;
  save_steps?: number;
  keep_best?: boolean;
  save_total_limit?: number;
  /**
   * FSDP full sharding across processes (also chosen by accelerate's FSDP or DeepSpeed configs), or DeepSpeed
   * ZeRO-3 (DPO with `dpo.engine: "trl"`; AdamW, or OnDARE/OnTIES merged on each rank's partition, without
   * `rescale: "l1"` or `precompute_ref`). @default "none"
   */
  sharding?: "none" | "fsdp" | "deepspeed";
}

export interface OptimizerOptions {
  name?: "adamw" | "ondare" | "onties";
  betas?: [number, number];
  eps?: number;
  /** Online merging: keep-probability of the DARE mask. */
  p?: number;
  /**
   * Online merging: weight of the SFT task vector τ = θ_SFT − θ_base, added (sparsified) on every optimizer step
   * independent of lr. α × planned steps above `ALPHA_STEPS_MAX` is refused unless `allow_large_alpha`.
   */
  alpha?: number;
  /** Run even though α × planned optimizer steps exceeds `ALPHA_STEPS_MAX`. */
  allow_large_alpha?: boolean;
  /** θ_b, τ's subtrahend: the checkpoint the SFT run started from (in the recipe, the continued-pre-training one). */
  base_model?: string;
  sft_model?: string;
  rescale?: "inverse_keep" | "none" | "l1";
  clip_tau?: number;
  seed?: number;
}

export interface TrainerJob {
  version: 1;
  stage: "pt" | "sft" | "rm" | "dpo";
  mode?: "train" | "score";
  model: string;
  output_dir: string;
  resume_from?: string;
  device?: "auto" | "cpu" | "cuda";
  cutoff_len?: number;
  system?: string;
  data?: { train: string; eval?: string; eval_ratio?: number; max_samples?: number };
  train?: TrainOptions;
  optimizer?: OptimizerOptions;
  dpo?: { beta?: number; loss_type?: "sigmoid" | "ipo" | "hinge" | "robust"; label_smoothing?: number; sft_weight?: number; ref_model?: string; precompute_ref?: boolean; engine?: "sfmed" | "trl" };
  rm?: { num_models?: number; seeds?: number[]; models?: string[]; input?: string; output?: string; batch_size?: number };
  pt?: {
    general?: string;
    /** General corpus's share of the CPT mix, in `general_ratio_unit`s. */
    general_ratio?: number;
    /** "tokens": share of all CPT tokens (the paper's accounting); "documents": share of documents. @default "tokens" */
    general_ratio_unit?: "tokens" | "documents";
  };
}

/**
 * The recipe's defaults: cutoff 2048, AdamW, cosine schedule with warmup, dropout 0.1, bf16 where the hardware has
 * it. Multi-GPU sharding (ZeRO-3) is chosen by the launcher, not the job.
 */
export const PAPER_DEFAULTS = {
  cutoff_len: 2048,
  /**
   * §3.1 / Table 1: ≈1.44B general tokens (baike2018qa, webtext2019zh, wiki2019zh) beside ≈1.30B medical tokens,
   * so the general corpus is ≈0.52 of all continued-pre-training tokens.
   */
  pt: { general_ratio: 0.52, general_ratio_unit: "tokens" } satisfies NonNullable<TrainerJob["pt"]>,
  train: { scheduler: "cosine", warmup_ratio: 0.03, dropout: 0.1, bf16: "auto", weight_decay: 0, max_grad_norm: 1, seed: 42 } satisfies TrainOptions,
  optimizer: { name: "adamw" } satisfies OptimizerOptions,
} as const;

interface CommonParams {
  /** Checkpoint to start from. */
  model: string;
  outputDir: string;
  /** Training JSONL. */
  train: string;
  eval?: string;
  evalRatio?: number;
  cutoffLen?: number;
  system?: string;
  device?: TrainerJob["device"];
  /** Overrides of the paper's training defaults. */
  trainOptions?: TrainOptions;
}

function common(stage: TrainerJob["stage"], p: CommonParams): TrainerJob {
  return {
    version: 1,
    stage,
    model: p.model,
    output_dir: p.outputDir,
    ...(p.device ? { device: p.device } : {}),
    cutoff_len: p.cutoffLen ?? PAPER_DEFAULTS.cutoff_len,
    ...(p.system ? { system: p.system } : {}),
    data: { train: p.train, ...(p.eval ? { eval: p.eval } : {}), ...(p.evalRatio !== undefined ? { eval_ratio: p.evalRatio } : {}) },
    train: { ...PAPER_DEFAULTS.train, ...p.trainOptions },
    optimizer: { ...PAPER_DEFAULTS.optimizer },
  };
}

/**
 * Continued pre-training on TextDoc JSONL, optionally mixed with a general corpus (against forgetting). The ratio is
 * the general corpus's share of all CPT tokens by default (the paper's ≈0.52); `generalRatioUnit: "documents"`
 * counts documents instead.
 */
export function ptJob(
  p: CommonParams & {
    general?: string;
    /** General share of the mix, in [0, 1). @default PAPER_DEFAULTS.pt.general_ratio (0.52) */
    generalRatio?: number;
    /** @default "tokens" */
    generalRatioUnit?: "tokens" | "documents";
  },
): TrainerJob {
  if (!p.general) return common("pt", p);
  const ratio = p.generalRatio ?? PAPER_DEFAULTS.pt.general_ratio;
  if (!(ratio >= 0 && ratio < 1)) throw new JobConfigError(`must be in [0, 1), got ${ratio}`, { code: "out_of_range", field: "pt.general_ratio" });
  return { ...common("pt", p), pt: { general: p.general, general_ratio: ratio, general_ratio_unit: p.generalRatioUnit ?? PAPER_DEFAULTS.pt.general_ratio_unit } };
}

/** Supervised fine-tuning on Dialogue JSONL (loss on assistant turns only). */
export function sftJob(p: CommonParams): TrainerJob {
  return common("sft", p);
}

/** N Bradley–Terry reward models on the same PreferencePair data in N shuffled orders (the recipe trains 10). */
export function rmJob(p: CommonParams & { numModels?: number; seeds?: number[] }): TrainerJob {
  const n = p.numModels ?? p.seeds?.length ?? 1;
  return { ...common("rm", p), rm: { num_models: n, ...(p.seeds ? { seeds: p.seeds } : {}) } };
}

/** Score PreferencePairs with trained reward models (input of @sfmed/pref-select). */
export function rmScoreJob(p: { model: string; models?: string[]; input: string; output: string; outputDir: string; cutoffLen?: number }): TrainerJob {
  return {
    version: 1,
    stage: "rm",
    mode: "score",
    model: p.model,
    output_dir: p.outputDir,
    cutoff_len: p.cutoffLen ?? PAPER_DEFAULTS.cutoff_len,
    rm: { input: p.input, output: p.output, ...(p.models ? { models: p.models } : {}) },
  };
}

/** Online merging for {@link dpoJob}: the optimizer block trainer-py's `ondare` / `onties` read. */
export interface OnlineMergeParams {
  method: "ondare" | "onties";
  /** Keep-probability (OnDARE) or kept fraction (OnTIES) of the update. @default 0.01 (official) */
  p?: number;
  /**
   * Weight of the task vector τ = θ_SFT − θ_base. α·τ' is added to the weights on every optimizer step, independent
   * of lr: keep α × (planned steps) small (warning above `ALPHA_STEPS_WARN`, refused above `ALPHA_STEPS_MAX`).
   * @default 1e-7 (official)
   */
  alpha?: number;
  /** Run even when α × planned steps exceeds `ALPHA_STEPS_MAX`. @default false */
  allowLargeAlpha?: boolean;
  /**
   * θ_b, τ's subtrahend: the checkpoint the SFT run started from. In the recipe that is the continued-pre-training
   * checkpoint; the original base folds the whole pre-training delta into τ.
   */
  baseModel: string;
  /** @default the job's model */
  sftModel?: string;
  /** Rescale of the sparsified update. @default the trainer's per-method default */
  rescale?: "inverse_keep" | "none" | "l1";
  /** OnDARE clamp of τ. @default the trainer's (1) */
  clipTau?: number;
  /** Mask seed. @default the trainer's (the train seed) */
  seed?: number;
  /** Adam betas. @default the trainer's ([0.9, 0.999]) */
  betas?: [number, number];
  /** Adam epsilon. @default the trainer's (1e-8) */
  eps?: number;
}

function need(ok: boolean, field: string, message: string): asserts ok {
  if (!ok) throw new JobConfigError(message, { code: "out_of_range", field });
}

/**
 * DPO from an SFT model (the paper's settings: dropout 0.1, cosine, AdamW), optionally with online merging
 * (`ondare` / `onties`) towards τ = θ_SFT − θ_base. The official online-merging script's other settings (dropout 0,
 * lr 1e-6, 100 warm-up steps, 2 epochs) are `trainOptions` overrides.
 * @throws JobConfigError for out-of-range merge values, or when α × planned optimizer steps exceeds
 *   `ALPHA_STEPS_MAX` without `allowLargeAlpha` (steps from `train.max_steps`, else from `datasetRows`).
 */
export function dpoJob(
  p: CommonParams &
    StepPlanContext & {
      beta?: number;
      lossType?: "sigmoid" | "ipo" | "hinge" | "robust";
      labelSmoothing?: number;
      sftWeight?: number;
      refModel?: string;
      /** Compute the reference log-probs once and free the reference model. */
      precomputeRef?: boolean;
      onlineMerge?: OnlineMergeParams;
      /** Told about risky values that do not stop the job (α × planned steps above `ALPHA_STEPS_WARN`). */
      onWarning?: (w: JobWarning) => void;
    },
): TrainerJob {
  const job = common("dpo", p);
  const beta = p.beta ?? 0.1;
  need(beta > 0, "dpo.beta", `must be > 0, got ${beta}`);
  if (p.labelSmoothing !== undefined) need(p.labelSmoothing >= 0 && p.labelSmoothing < 0.5, "dpo.label_smoothing", `must be in [0, 0.5), got ${p.labelSmoothing}`);
  job.dpo = {
    beta,
    loss_type: p.lossType ?? "sigmoid",
    ...(p.labelSmoothing !== undefined ? { label_smoothing: p.labelSmoothing } : {}),
    ...(p.sftWeight !== undefined ? { sft_weight: p.sftWeight } : {}),
    ...(p.refModel ? { ref_model: p.refModel } : {}),
    ...(p.precomputeRef !== undefined ? { precompute_ref: p.precomputeRef } : {}),
  };
  const om = p.onlineMerge;
  if (om) {
    const keep = om.p ?? OFFICIAL_ONLINE_MERGE.p;
    const alpha = om.alpha ?? OFFICIAL_ONLINE_MERGE.alpha;
    need(keep > 0 && keep <= 1, "optimizer.p", `must be in (0, 1], got ${keep}`);
    need(alpha >= 0 && alpha <= 1, "optimizer.alpha", `must be in [0, 1], got ${alpha}`);
    need(typeof om.baseModel === "string" && om.baseModel.length > 0, "optimizer.base_model", "must be a non-empty path");
    if (om.clipTau !== undefined) need(om.clipTau > 0, "optimizer.clip_tau", `must be > 0, got ${om.clipTau}`);
    job.optimizer = {
      name: om.method,
      ...(om.betas ? { betas: om.betas } : {}),
      ...(om.eps !== undefined ? { eps: om.eps } : {}),
      p: keep,
      alpha,
      ...(om.allowLargeAlpha ? { allow_large_alpha: true } : {}),
      base_model: om.baseModel,
      sft_model: om.sftModel ?? p.model,
      ...(om.rescale ? { rescale: om.rescale } : {}),
      ...(om.clipTau !== undefined ? { clip_tau: om.clipTau } : {}),
      ...(om.seed !== undefined ? { seed: om.seed } : {}),
    };
    const w = checkMergeAlpha(job, { ...(p.datasetRows !== undefined ? { datasetRows: p.datasetRows } : {}), ...(p.worldSize !== undefined ? { worldSize: p.worldSize } : {}) });
    if (w) p.onWarning?.(w);
  }
  return job;
}

let cached: { file: string; validate: ValidateFunction } | undefined;

/** trainer-py's JSON Schema for jobs (the same file the trainer validates against). */
export function jobSchemaPath(): string {
  return path.join(trainerDir(), "sfmed_trainer", "job.schema.json");
}

function validator(): ValidateFunction {
  const file = jobSchemaPath();
  if (cached?.file === file) return cached.validate;
  const ajv = new Ajv2020({ allErrors: false, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(file, "utf8")) as object);
  cached = { file, validate };
  return validate;
}

function describe(e: ErrorObject): { path: string; message: string } {
  const base = e.instancePath.replace(/^\//, "").replace(/\/(\d+)(?=\/|$)/g, "[$1]").replace(/\//g, ".");
  if (e.keyword === "additionalProperties") {
    const key = (e.params as { additionalProperty: string }).additionalProperty;
    return { path: base ? `${base}.${key}` : key, message: "unknown key" };
  }
  if (e.keyword === "required") {
    const key = (e.params as { missingProperty: string }).missingProperty;
    return { path: base ? `${base}.${key}` : key, message: "is required" };
  }
  if (e.keyword === "enum") return { path: base, message: `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}` };
  return { path: base, message: e.message ?? "is invalid" };
}

/** What {@link validateJob} needs beyond the job to check the online-merging α against the run's length. */
export interface ValidateJobOptions extends StepPlanContext {
  /** Told about risky values that do not stop the job (α × planned steps above `ALPHA_STEPS_WARN`). */
  onWarning?: (w: JobWarning) => void;
}

/**
 * Validate a job against trainer-py's schema before anything starts, then check an online-merging job's α against
 * its planned optimizer steps (known here from `train.max_steps` or `opts.datasetRows`; {@link checkJobPlan}
 * counts the data file at launch).
 * @throws JobValidationError naming the key path, e.g. `train.lr: must be > 0`.
 * @throws JobConfigError when α × planned steps exceeds `ALPHA_STEPS_MAX` without `optimizer.allow_large_alpha`.
 */
export function validateJob(job: unknown, file?: string, opts: ValidateJobOptions = {}): asserts job is TrainerJob {
  const validate = validator();
  if (!validate(job)) {
    const errs = validate.errors ?? [];
    // Prefer the most specific error (deepest path) over the schema's if/then summaries.
    const best = errs.filter((e) => e.keyword !== "if").sort((a, b) => b.instancePath.length - a.instancePath.length)[0] ?? errs[0]!;
    const d = describe(best);
    throw new JobValidationError(d.message, d.path, file);
  }
  const { onWarning, ...ctx } = opts;
  const w = checkMergeAlpha(job as TrainerJob, { ...ctx, ...(file ? { file } : {}) });
  if (w) onWarning?.(w);
}

const PATH_KEYS: Array<[string, string?]> = [["model"], ["output_dir"], ["resume_from"], ["data", "train"], ["data", "eval"], ["optimizer", "base_model"], ["optimizer", "sft_model"], ["dpo", "ref_model"], ["rm", "input"], ["rm", "output"], ["pt", "general"]];

/** Make every path in a job absolute, relative to `base` (the job file's folder). */
export function resolveJobPaths(job: TrainerJob, base: string): TrainerJob {
  const out = structuredClone(job) as unknown as Record<string, Record<string, unknown> | unknown>;
  const abs = (v: unknown) => (typeof v === "string" && v ? path.resolve(base, v) : v);
  for (const [a, b] of PATH_KEYS) {
    if (!b) out[a] = abs(out[a]);
    else if (out[a] && typeof out[a] === "object") (out[a] as Record<string, unknown>)[b] = abs((out[a] as Record<string, unknown>)[b]);
  }
  const rm = out.rm as { models?: unknown[] } | undefined;
  if (rm?.models) rm.models = rm.models.map(abs);
  return out as unknown as TrainerJob;
}

/** Merge `over` into `base` key by key (objects recursively; arrays and scalars replace; undefined skipped). */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!over || typeof over !== "object" || Array.isArray(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = base && typeof base === "object" && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (v === undefined) continue;
    out[k] = v && typeof v === "object" && !Array.isArray(v) ? deepMerge(out[k], v) : v;
  }
  return out;
}

/**
 * Read a job file (YAML or JSON), merge `overrides` into it (deeply; give overrides' paths absolute), validate it,
 * and resolve its relative paths against the file's folder.
 * @throws JobValidationError naming the file and key path.
 */
export async function loadJobFile(file: string, overrides: Record<string, unknown> = {}): Promise<TrainerJob> {
  const text = await readFile(file, "utf8");
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new JobValidationError(`not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"}: ${(err as Error).message.split("\n")[0]}`, "", file);
  }
  const job = deepMerge(raw, overrides);
  validateJob(job, file);
  return resolveJobPaths(job, path.dirname(path.resolve(file)));
}
