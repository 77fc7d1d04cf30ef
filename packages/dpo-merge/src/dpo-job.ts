import { dpoJob as trainerDpoJob, type OptimizerOptions, type TrainerJob, type TrainOptions } from "@sfmed/train-runner";
import { MergeInputError } from "./errors.js";
import type { DpoLossType } from "./dpo-loss.js";
import type { OnlineMergeMethod } from "./online-merge-step.js";

/**
 * A trainer-py DPO job with online merging: train-runner's {@link TrainerJob} (whose builder owns the shape that
 * `trainer-py/sfmed_trainer/job.schema.json` validates), with the blocks a DPO + online-merging job always has.
 */
export type DpoMergeJob = TrainerJob & {
  stage: "dpo";
  data: NonNullable<TrainerJob["data"]>;
  train: TrainOptions;
  optimizer: OptimizerOptions & { name: OnlineMergeMethod; p: number; alpha: number; base_model: string; sft_model: string };
  dpo: NonNullable<TrainerJob["dpo"]>;
};

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
 * Build the DPO + online-merging job trainer-py runs (`python -m sfmed_trainer run job.json`) with train-runner's
 * `dpoJob` (the one builder of the job shape), following the official recipe (run_dpo_om.sh) on top of its
 * defaults: the SFT model is both the policy's start and the reference, τ comes from the SFT and base
 * checkpoints, sigmoid DPO with β = 0.1, lr 1e-6, cosine schedule with 100 warm-up steps (no warm-up ratio),
 * 2 epochs, weight decay 0, no dropout, Adam betas (0.9, 0.999) and ε 1e-8, bf16 where available.
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
  const job = trainerDpoJob({
    model: p.sftModel,
    outputDir: p.outputDir,
    train: p.train,
    ...(p.eval ? { eval: p.eval } : {}),
    cutoffLen: p.cutoffLen ?? 2048,
    ...(p.system !== undefined ? { system: p.system } : {}),
    trainOptions: {
      epochs,
      lr,
      batch_size: p.batchSize ?? 1,
      grad_accum: p.gradAccum ?? 1,
      weight_decay: 0,
      scheduler: "cosine",
      warmup_steps: p.warmupSteps ?? 100,
      warmup_ratio: 0,
      dropout: 0,
      bf16: "auto",
      seed: p.seed ?? 42,
      ...(p.maxSteps !== undefined ? { max_steps: p.maxSteps } : {}),
    },
    beta,
    lossType: p.lossType ?? "sigmoid",
    labelSmoothing: ls,
    refModel: p.sftModel,
    precomputeRef: p.precomputeRef ?? false,
    onlineMerge: {
      method: p.optimizer ?? "ondare",
      betas: [0.9, 0.999],
      eps: 1e-8,
      p: reserve,
      alpha,
      baseModel: p.baseModel,
      sftModel: p.sftModel,
      ...(p.rescale ? { rescale: p.rescale } : {}),
      clipTau: clip,
      ...(p.maskSeed !== undefined ? { seed: p.maskSeed } : {}),
    },
  });
  return job as DpoMergeJob;
}
