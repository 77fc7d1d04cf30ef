import { MergeInputError } from "./errors.js";
import type { DpoLossType } from "./dpo-loss.js";
import type { OnlineMergeMethod } from "./online-merge-step.js";

/**
 * A trainer-py DPO job with online merging, in the exact shape of `trainer-py/sfmed_trainer/job.schema.json`
 * (the subset of keys a DPO job uses).
 */
export interface DpoMergeJob {
  version: 1;
  stage: "dpo";
  model: string;
  output_dir: string;
  cutoff_len: number;
  system?: string;
  data: { train: string; eval?: string; eval_ratio?: number };
  train: {
    epochs: number;
    lr: number;
    batch_size: number;
    grad_accum: number;
    weight_decay: number;
    scheduler: "cosine" | "linear" | "constant";
    warmup_steps: number;
    bf16: "auto" | boolean;
    seed: number;
    max_steps?: number;
  };
  optimizer: {
    name: OnlineMergeMethod;
    betas: [number, number];
    eps: number;
    p: number;
    alpha: number;
    base_model: string;
    sft_model: string;
    /** Omitted: the trainer's per-method default (OnDARE ×1/p, OnTIES none), as the official code. */
    rescale?: "inverse_keep" | "none" | "l1";
    clip_tau: number;
    seed?: number;
  };
  dpo: {
    beta: number;
    loss_type: DpoLossType;
    label_smoothing: number;
    ref_model: string;
    precompute_ref: boolean;
  };
}

export interface DpoJobParams {
  /** SFT checkpoint: the policy's start, the DPO reference, and τ's minuend. */
  sftModel: string;
  /** Pre-trained base checkpoint: τ = θ_SFT − θ_base. */
  baseModel: string;
  /** PreferencePair JSONL. */
  train: string;
  eval?: string;
  outputDir: string;
  /** @default "ondare" */
  optimizer?: OnlineMergeMethod;
  /** Reserve rate (keep-probability for OnDARE, kept fraction for OnTIES). @default 0.01 (official run_dpo_om.sh) */
  p?: number;
  /** Merge weight of τ. @default 1e-7 (official script; the paper suggests starting the search there) */
  alpha?: number;
  /** @default 1e-6 */
  lr?: number;
  /** @default 0.1 */
  beta?: number;
  /** @default "sigmoid" */
  lossType?: DpoLossType;
  /** @default 0 */
  labelSmoothing?: number;
  /** @default 2 */
  epochs?: number;
  maxSteps?: number;
  /** Per-device micro-batch. @default 1 */
  batchSize?: number;
  /** @default 1 */
  gradAccum?: number;
  /** @default 100 */
  warmupSteps?: number;
  /** @default 2048 */
  cutoffLen?: number;
  /** Rescale of the sparsified update. @default the trainer's per-method default: ×1/p for OnDARE (F.dropout, as the official code), none for OnTIES */
  rescale?: "inverse_keep" | "none" | "l1";
  /** OnDARE clamp of τ. @default 1 */
  clipTau?: number;
  /** @default 42 */
  seed?: number;
  /** Mask seed. @default the train seed */
  maskSeed?: number;
  /** Compute reference log-probs once and free the reference model. @default false */
  precomputeRef?: boolean;
  system?: string;
}

function need(ok: boolean, field: string, message: string): asserts ok {
  if (!ok) throw new MergeInputError(message, { field });
}

/**
 * Build the DPO + online-merging job trainer-py runs (`python -m sfmed_trainer run job.json`), following the
 * official recipe (run_dpo_om.sh): the SFT model is both the policy's start and the reference, τ comes from the
 * SFT and base checkpoints, sigmoid DPO with β = 0.1, lr 1e-6, cosine schedule with 100 warm-up steps, 2 epochs,
 * weight decay 0, bf16 where available.
 * @throws {MergeInputError} for values outside the ranges the trainer accepts.
 */
export function dpoJob(p: DpoJobParams): DpoMergeJob {
  for (const k of ["sftModel", "baseModel", "train", "outputDir"] as const) need(typeof p[k] === "string" && p[k].length > 0, k, "must be a non-empty path");
  const reserve = p.p ?? 0.01;
  const alpha = p.alpha ?? 1e-7;
  need(reserve > 0 && reserve <= 1, "p", `must be in (0, 1], got ${reserve}`);
  need(alpha >= 0 && alpha <= 1, "alpha", `must be in [0, 1], got ${alpha}`);
  const beta = p.beta ?? 0.1;
  need(beta > 0, "beta", `must be > 0, got ${beta}`);
  const ls = p.labelSmoothing ?? 0;
  need(ls >= 0 && ls < 0.5, "labelSmoothing", `must be in [0, 0.5), got ${ls}`);
  const lr = p.lr ?? 1e-6;
  need(lr > 0, "lr", `must be > 0, got ${lr}`);
  const clip = p.clipTau ?? 1;
  need(clip > 0, "clipTau", `must be > 0, got ${clip}`);
  const ints: Array<[string, number | undefined, number]> = [
    ["batchSize", p.batchSize, 1],
    ["gradAccum", p.gradAccum, 1],
    ["warmupSteps", p.warmupSteps, 0],
    ["cutoffLen", p.cutoffLen, 8],
    ["seed", p.seed, 0],
    ["maskSeed", p.maskSeed, 0],
    ["maxSteps", p.maxSteps, 1],
  ];
  for (const [k, v, min] of ints) need(v === undefined || (Number.isInteger(v) && v >= min), k, `must be an integer >= ${min}, got ${v}`);
  const epochs = p.epochs ?? 2;
  need(epochs > 0, "epochs", `must be > 0, got ${epochs}`);
  return {
    version: 1,
    stage: "dpo",
    model: p.sftModel,
    output_dir: p.outputDir,
    cutoff_len: p.cutoffLen ?? 2048,
    ...(p.system !== undefined ? { system: p.system } : {}),
    data: { train: p.train, ...(p.eval ? { eval: p.eval } : {}) },
    train: {
      epochs,
      lr,
      batch_size: p.batchSize ?? 1,
      grad_accum: p.gradAccum ?? 1,
      weight_decay: 0,
      scheduler: "cosine",
      warmup_steps: p.warmupSteps ?? 100,
      bf16: "auto",
      seed: p.seed ?? 42,
      ...(p.maxSteps !== undefined ? { max_steps: p.maxSteps } : {}),
    },
    optimizer: {
      name: p.optimizer ?? "ondare",
      betas: [0.9, 0.999],
      eps: 1e-8,
      p: reserve,
      alpha,
      base_model: p.baseModel,
      sft_model: p.sftModel,
      ...(p.rescale ? { rescale: p.rescale } : {}),
      clip_tau: clip,
      ...(p.maskSeed !== undefined ? { seed: p.maskSeed } : {}),
    },
    dpo: {
      beta,
      loss_type: p.lossType ?? "sigmoid",
      label_smoothing: ls,
      ref_model: p.sftModel,
      precompute_ref: p.precomputeRef ?? false,
    },
  };
}
