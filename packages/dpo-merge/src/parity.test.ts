import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { dpoLoss, type DpoLossType } from "./dpo-loss.js";
import { onlineMergeStep, type OnlineMergeMethod } from "./online-merge-step.js";

// Written by trainer-py's tests from its own loss and optimizer code. Cases are matched to 1e-9.
// trainer-py computes the Adam part with torch.optim.AdamW arithmetic (ε added to √v/√(1−β2^t), weight decay
// before the update), while the official online-merging optimizers clone transformers.AdamW (ε added to √v,
// decay after). A case may say which with "adam_variant"; absent, it is trainer-py's "torch" arithmetic.
const FIXTURE = path.join(repoRoot, "trainer-py", "tests", "fixtures", "parity.json");

interface DpoCase {
  loss_type: DpoLossType;
  beta: number;
  label_smoothing: number;
  policy_chosen_logps: number[];
  policy_rejected_logps: number[];
  reference_chosen_logps: number[];
  reference_rejected_logps: number[];
  expected: { losses: number[]; loss: number; rewards_chosen: number[]; rewards_rejected: number[]; reward_accuracy: number; reward_margin: number };
}

interface MergeCase {
  method: OnlineMergeMethod;
  p: number;
  alpha: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  step: number;
  theta: number[];
  grad: number[];
  exp_avg: number[];
  exp_avg_sq: number[];
  tau: number[];
  mask: number[];
  adam_variant?: "hf" | "torch";
  /** "l1": the official OnDARE `rescale` (scale Δ' back to ‖Δ‖₁, clamp to ±clip_val). */
  rescale?: "l1" | "inverse_keep" | "none";
  clip_val?: number;
  expected_theta: number[];
  expected_exp_avg: number[];
  expected_exp_avg_sq: number[];
}

const TOL = 1e-9;

function expectClose(got: ArrayLike<number>, want: number[], what: string): void {
  expect(got.length, `${what} length`).toBe(want.length);
  const worst = want.reduce((w, x, i) => Math.max(w, Math.abs(got[i]! - x)), 0);
  expect(worst, `${what}: largest absolute difference`).toBeLessThanOrEqual(TOL);
}

describe.skipIf(!existsSync(FIXTURE))("parity with trainer-py (trainer-py/tests/fixtures/parity.json)", () => {
  const data = existsSync(FIXTURE) ? (JSON.parse(readFileSync(FIXTURE, "utf8")) as { dpo?: DpoCase[]; online_merge?: MergeCase[] }) : {};
  const dpo = data.dpo ?? [];
  const merges = data.online_merge ?? [];

  it("has cases of both kinds", () => {
    expect(dpo.length).toBeGreaterThan(0);
    expect(merges.length).toBeGreaterThan(0);
  });

  dpo.forEach((c, i) => {
    it(`dpo #${i} ${c.loss_type} β=${c.beta} ε=${c.label_smoothing}`, () => {
      const r = dpoLoss({
        lossType: c.loss_type,
        beta: c.beta,
        labelSmoothing: c.label_smoothing,
        policyChosenLogps: c.policy_chosen_logps,
        policyRejectedLogps: c.policy_rejected_logps,
        referenceChosenLogps: c.reference_chosen_logps,
        referenceRejectedLogps: c.reference_rejected_logps,
      });
      expectClose(r.losses, c.expected.losses, "losses");
      expectClose([r.loss], [c.expected.loss], "loss");
      expectClose(r.rewardsChosen, c.expected.rewards_chosen, "rewards_chosen");
      expectClose(r.rewardsRejected, c.expected.rewards_rejected, "rewards_rejected");
      expectClose([r.rewardAccuracy, r.rewardMargin], [c.expected.reward_accuracy, c.expected.reward_margin], "accuracy, margin");
    });
  });

  merges.forEach((c, i) => {
    it(`online_merge #${i} ${c.method} p=${c.p} α=${c.alpha} step=${c.step} wd=${c.weight_decay}`, () => {
      const run = (mask: number[] | undefined) => {
        const theta = Float64Array.from(c.theta);
        const expAvg = Float64Array.from(c.exp_avg);
        const expAvgSq = Float64Array.from(c.exp_avg_sq);
        onlineMergeStep({
          method: c.method,
          adamVariant: c.adam_variant ?? "torch",
          theta,
          grad: c.grad,
          expAvg,
          expAvgSq,
          tau: c.tau,
          step: c.step,
          lr: c.lr,
          betas: c.betas,
          eps: c.eps,
          weightDecay: c.weight_decay,
          p: c.p,
          alpha: c.alpha,
          rescale: c.rescale === "l1",
          ...(c.clip_val !== undefined ? { clipVal: c.clip_val } : {}),
          ...(mask ? { mask } : {}),
        });
        return { theta, expAvg, expAvgSq };
      };
      const r = run(c.mask);
      expectClose(r.expAvg, c.expected_exp_avg, "exp_avg");
      expectClose(r.expAvgSq, c.expected_exp_avg_sq, "exp_avg_sq");
      expectClose(r.theta, c.expected_theta, "theta");
      // OnTIES' mask is the top-k of |Δ|: our own selection must pick the same entries.
      if (c.method === "onties") expectClose(run(undefined).theta, c.expected_theta, "theta with our top-k mask");
    });
  });
});
