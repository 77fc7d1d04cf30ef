import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { dpoLoss, logSigmoid, softplus } from "./dpo-loss.js";

/** Textbook float64 formulas, valid where exp does not overflow (|x| < 700). */
const naiveLogSigmoid = (x: number) => -Math.log(1 + Math.exp(-x));
function naiveLoss(type: string, beta: number, eps: number, pc: number, pr: number, rc: number, rr: number): number {
  const h = pc - pr - (rc - rr);
  const s = 1 / (1 + Math.exp(-beta * h));
  switch (type) {
    case "sigmoid":
      return -(1 - eps) * Math.log(s) - eps * Math.log(1 - s);
    case "robust":
      return (-(1 - eps) * Math.log(s) + eps * Math.log(1 - s)) / (1 - 2 * eps);
    case "hinge":
      return Math.max(0, 1 - beta * h);
    default:
      return (h - 1 / (2 * beta)) ** 2;
  }
}

const logp = fc.double({ min: -400, max: 0, noNaN: true });
const pairs = fc.array(fc.tuple(logp, logp, logp, logp), { minLength: 1, maxLength: 16 });

describe("log-sigmoid", () => {
  test.prop([fc.double({ min: -30, max: 30, noNaN: true })])("equals the naive formula in the safe range", (x) => {
    expect(logSigmoid(x)).toBeCloseTo(naiveLogSigmoid(x), 12);
    expect(softplus(x)).toBeCloseTo(Math.log(1 + Math.exp(x)), 12);
  });

  it("stays finite and accurate where the naive formula breaks", () => {
    expect(logSigmoid(-1000)).toBe(-1000);
    expect(naiveLogSigmoid(-1000)).toBe(-Infinity);
    expect(logSigmoid(800)).toBe(-0);
    expect(logSigmoid(40)).toBeCloseTo(-Math.exp(-40), 30);
    expect(naiveLogSigmoid(40)).toBe(-0); // 1 + e^-40 rounds to 1: the naive form loses the value entirely
  });
});

describe("dpoLoss", () => {
  test.prop([pairs, fc.constantFrom("sigmoid" as const, "robust" as const, "hinge" as const, "ipo" as const), fc.constantFrom(0.05, 0.1, 0.5), fc.constantFrom(0, 0.1, 0.3)])(
    "matches the float64 reference per pair, with TRL's metrics",
    (ps, lossType, beta, eps) => {
      const cols = [0, 1, 2, 3].map((k) => ps.map((p) => p[k]!));
      const r = dpoLoss({ lossType, beta, labelSmoothing: eps, policyChosenLogps: cols[0]!, policyRejectedLogps: cols[1]!, referenceChosenLogps: cols[2]!, referenceRejectedLogps: cols[3]! });
      ps.forEach(([pc, pr, rc, rr], i) => {
        const want = naiveLoss(lossType, beta, eps, pc, pr, rc, rr);
        // The naive form loses digits in log(1 − s) once |βh| is large; compare only where it is well conditioned.
        const bh = beta * (pc - pr - (rc - rr));
        if (Math.abs(bh) < 10) expect(Math.abs(r.losses[i]! - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
        expect(Number.isFinite(r.losses[i]!)).toBe(true);
        expect(r.rewardsChosen[i]).toBeCloseTo(beta * (pc - rc), 12);
        expect(r.rewardsRejected[i]).toBeCloseTo(beta * (pr - rr), 12);
      });
      const n = ps.length;
      expect(r.loss).toBeCloseTo(r.losses.reduce((a, b) => a + b, 0) / n, 12);
      expect(r.rewardAccuracy).toBe(ps.filter(([pc, pr, rc, rr]) => beta * (pc - rc) > beta * (pr - rr)).length / n);
      expect(r.rewardMargin).toBeCloseTo(ps.reduce((a, [pc, pr, rc, rr]) => a + beta * (pc - rc) - beta * (pr - rr), 0) / n, 9);
      expect(r.metrics["rewards/margins"]).toBe(r.rewardMargin);
    },
  );

  it("gives log 2 at h = 0 and the known hinge/IPO values", () => {
    const z = { policyChosenLogps: [-5], policyRejectedLogps: [-5], referenceChosenLogps: [-5], referenceRejectedLogps: [-5] };
    expect(dpoLoss(z).loss).toBeCloseTo(Math.LN2, 15);
    expect(dpoLoss({ ...z, lossType: "hinge" }).loss).toBe(1);
    expect(dpoLoss({ ...z, lossType: "ipo", beta: 0.1 }).loss).toBeCloseTo(25, 12);
    expect(dpoLoss({ ...z, lossType: "robust", labelSmoothing: 0.2 }).loss).toBeCloseTo((0.8 * Math.LN2 - 0.2 * Math.LN2) / 0.6, 15);
  });

  it("robust with ε = 0 equals sigmoid and is finite for extreme margins", () => {
    const args = { policyChosenLogps: [-1, -3000], policyRejectedLogps: [-2000, -1], referenceChosenLogps: [-1, -1], referenceRejectedLogps: [-1, -1] };
    expect(dpoLoss({ ...args, lossType: "robust" }).losses).toEqual(dpoLoss(args).losses);
    const s = dpoLoss({ ...args, labelSmoothing: 0.1 }).losses;
    expect(s.every(Number.isFinite)).toBe(true);
    expect(s[1]).toBeCloseTo(0.9 * 299.9, 9); // βh = −299.9: the ε term is e^−299.9, invisible
  });

  it("rejects mismatched input", () => {
    const a = { policyChosenLogps: [1], policyRejectedLogps: [1, 2], referenceChosenLogps: [1], referenceRejectedLogps: [1] };
    expect(() => dpoLoss(a)).toThrow(expect.objectContaining({ name: "MergeInputError", field: "policyRejectedLogps" }));
    const b = { ...a, policyRejectedLogps: [1] };
    expect(() => dpoLoss({ ...b, beta: 0 })).toThrow(expect.objectContaining({ field: "beta" }));
    expect(() => dpoLoss({ ...b, lossType: "robust", labelSmoothing: 0.5 })).toThrow(expect.objectContaining({ field: "labelSmoothing" }));
  });
});
