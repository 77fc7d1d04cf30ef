import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";
import { JobValidationError } from "./errors.js";
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
  /** Online merging: weight of the SFT task vector τ = θ_SFT − θ_base. */
  alpha?: number;
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
  pt?: { general?: string; general_ratio?: number };
}

/**
 * The recipe's defaults: cutoff 2048, AdamW, cosine schedule with warmup, dropout 0.1, bf16 where the hardware has
 * it. Multi-GPU sharding (ZeRO-3) is chosen by the launcher, not the job.
 */
export const PAPER_DEFAULTS = {
  cutoff_len: 2048,
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

/** Continued pre-training on TextDoc JSONL, optionally mixed with a general corpus (against forgetting). */
export function ptJob(p: CommonParams & { general?: string; generalRatio?: number }): TrainerJob {
  return { ...common("pt", p), ...(p.general ? { pt: { general: p.general, general_ratio: p.generalRatio ?? 0.1 } } : {}) };
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
  /** Keep-probability (OnDARE) or kept fraction (OnTIES) of the update. */
  p: number;
  /** Weight of the task vector τ = θ_SFT − θ_base. */
  alpha: number;
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

/** DPO from an SFT model, optionally with online merging (`ondare` / `onties`) towards τ = θ_SFT − θ_base. */
export function dpoJob(
  p: CommonParams & {
    beta?: number;
    lossType?: "sigmoid" | "ipo" | "hinge" | "robust";
    labelSmoothing?: number;
    sftWeight?: number;
    refModel?: string;
    /** Compute the reference log-probs once and free the reference model. */
    precomputeRef?: boolean;
    onlineMerge?: OnlineMergeParams;
  },
): TrainerJob {
  const job = common("dpo", p);
  job.dpo = {
    beta: p.beta ?? 0.1,
    loss_type: p.lossType ?? "sigmoid",
    ...(p.labelSmoothing !== undefined ? { label_smoothing: p.labelSmoothing } : {}),
    ...(p.sftWeight !== undefined ? { sft_weight: p.sftWeight } : {}),
    ...(p.refModel ? { ref_model: p.refModel } : {}),
    ...(p.precomputeRef !== undefined ? { precompute_ref: p.precomputeRef } : {}),
  };
  const om = p.onlineMerge;
  if (om) {
    job.optimizer = {
      name: om.method,
      ...(om.betas ? { betas: om.betas } : {}),
      ...(om.eps !== undefined ? { eps: om.eps } : {}),
      p: om.p,
      alpha: om.alpha,
      base_model: om.baseModel,
      sft_model: om.sftModel ?? p.model,
      ...(om.rescale ? { rescale: om.rescale } : {}),
      ...(om.clipTau !== undefined ? { clip_tau: om.clipTau } : {}),
      ...(om.seed !== undefined ? { seed: om.seed } : {}),
    };
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

/**
 * Validate a job against trainer-py's schema before anything starts.
 * @throws JobValidationError naming the key path, e.g. `train.lr: must be > 0`.
 */
export function validateJob(job: unknown, file?: string): asserts job is TrainerJob {
  const validate = validator();
  if (validate(job)) return;
  const errs = validate.errors ?? [];
  // Prefer the most specific error (deepest path) over the schema's if/then summaries.
  const best = errs.filter((e) => e.keyword !== "if").sort((a, b) => b.instancePath.length - a.instancePath.length)[0] ?? errs[0]!;
  const d = describe(best);
  throw new JobValidationError(d.message, d.path, file);
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
