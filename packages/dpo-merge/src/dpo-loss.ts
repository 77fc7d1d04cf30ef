import { MergeInputError } from "./errors.js";

export type DpoLossType = "sigmoid" | "ipo" | "hinge" | "robust";

export interface DpoLossOptions {
  /** @default "sigmoid" */
  lossType?: DpoLossType;
  /** Inverse temperature β. @default 0.1 */
  beta?: number;
  /** ε: cDPO smoothing for `sigmoid`, noise rate for `robust` (must be < 0.5). @default 0 */
  labelSmoothing?: number;
  /**
   * Summed response-token log-probs under the policy and the reference. For `ipo` pass length-averaged
   * log-probs, as TRL and LLaMA-Factory do.
   */
  policyChosenLogps: ArrayLike<number>;
  policyRejectedLogps: ArrayLike<number>;
  referenceChosenLogps: ArrayLike<number>;
  referenceRejectedLogps: ArrayLike<number>;
}

export interface DpoLossResult {
  /** Per-pair losses. */
  losses: number[];
  /** Mean loss. */
  loss: number;
  /** Implicit rewards β·(log π − log π_ref), per pair. */
  rewardsChosen: number[];
  rewardsRejected: number[];
  /** Fraction of pairs with chosen reward > rejected reward. */
  rewardAccuracy: number;
  /** Mean of chosen − rejected rewards. */
  rewardMargin: number;
  /** The scalars TRL and LLaMA-Factory log, under their key names. */
  metrics: {
    "rewards/chosen": number;
    "rewards/rejected": number;
    "rewards/accuracies": number;
    "rewards/margins": number;
    "logps/chosen": number;
    "logps/rejected": number;
  };
}

/** softplus(x) = log(1 + eˣ) without overflow or loss of precision for large |x|. */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** log σ(x) = −softplus(−x): finite for every finite x (≈ x for very negative x, ≈ −e^−x for large x). */
export function logSigmoid(x: number): number {
  return -softplus(-x);
}

const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * The DPO loss family over per-pair log-probs (reference math for the trainer's loss), with h = (log π_c − log π_r)
 * − (log π_ref,c − log π_ref,r):
 * - `sigmoid`: −(1−ε)·log σ(βh) − ε·log σ(−βh) (DPO; cDPO when ε > 0, as LLaMA-Factory and TRL ≤ 0.12);
 * - `robust`: (−(1−ε)·log σ(βh) + ε·log σ(−βh)) / (1 − 2ε) (Chowdhury et al. 2024);
 * - `hinge`: max(0, 1 − βh) (SLiC);
 * - `ipo`: (h − 1/(2β))² (IPO; feed length-averaged log-probs).
 * @throws {MergeInputError} when the four arrays differ in length, β ≤ 0, or ε is out of range.
 */
export function dpoLoss(opts: DpoLossOptions): DpoLossResult {
  const type = opts.lossType ?? "sigmoid";
  const beta = opts.beta ?? 0.1;
  const eps = opts.labelSmoothing ?? 0;
  const pc = opts.policyChosenLogps;
  const n = pc.length;
  for (const k of ["policyRejectedLogps", "referenceChosenLogps", "referenceRejectedLogps"] as const) {
    if (opts[k].length !== n) throw new MergeInputError(`length ${opts[k].length} differs from policyChosenLogps' ${n}`, { field: k });
  }
  if (!(beta > 0)) throw new MergeInputError(`must be > 0, got ${beta}`, { code: "BAD_OPTION", field: "beta" });
  if (!(eps >= 0 && eps < (type === "robust" ? 0.5 : 1))) throw new MergeInputError(`out of range for ${type}: ${eps}`, { code: "BAD_OPTION", field: "labelSmoothing" });

  const losses: number[] = [];
  const rewardsChosen: number[] = [];
  const rewardsRejected: number[] = [];
  for (let i = 0; i < n; i++) {
    const piLogratio = pc[i]! - opts.policyRejectedLogps[i]!;
    const refLogratio = opts.referenceChosenLogps[i]! - opts.referenceRejectedLogps[i]!;
    const h = piLogratio - refLogratio;
    let l: number;
    switch (type) {
      case "sigmoid":
        l = -logSigmoid(beta * h) * (1 - eps) - logSigmoid(-beta * h) * eps;
        break;
      case "robust":
        l = (-logSigmoid(beta * h) * (1 - eps) + logSigmoid(-beta * h) * eps) / (1 - 2 * eps);
        break;
      case "hinge":
        l = Math.max(0, 1 - beta * h);
        break;
      case "ipo":
        l = (h - 1 / (2 * beta)) ** 2;
        break;
      default:
        throw new MergeInputError(`unknown loss type ${String(type)}`, { code: "BAD_OPTION", field: "lossType" });
    }
    losses.push(l);
    rewardsChosen.push(beta * (pc[i]! - opts.referenceChosenLogps[i]!));
    rewardsRejected.push(beta * (opts.policyRejectedLogps[i]! - opts.referenceRejectedLogps[i]!));
  }
  const rewardAccuracy = mean(rewardsChosen.map((c, i) => (c > rewardsRejected[i]! ? 1 : 0)));
  const rewardMargin = mean(rewardsChosen.map((c, i) => c - rewardsRejected[i]!));
  return {
    losses,
    loss: mean(losses),
    rewardsChosen,
    rewardsRejected,
    rewardAccuracy,
    rewardMargin,
    metrics: {
      "rewards/chosen": mean(rewardsChosen),
      "rewards/rejected": mean(rewardsRejected),
      "rewards/accuracies": rewardAccuracy,
      "rewards/margins": rewardMargin,
      "logps/chosen": mean(Array.from(pc)),
      "logps/rejected": mean(Array.from(opts.policyRejectedLogps)),
    },
  };
}
