import { deflateSync } from "node:zlib";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { membershipScores, rocAuc } from "./membership-scores.js";

describe("membership scores", () => {
  it("computes loss, perplexity, zlib ratio and min-k% by their definitions", () => {
    const lp = [-0.1, -2, -0.5, -4, Number.NaN, -0.2, -1, -0.3, -0.6, -0.8, -0.5];
    const s = membershipScores("高血压的治疗", lp, { minKPercent: 20 })!;
    const finite = lp.filter(Number.isFinite);
    expect(s.tokens).toBe(10);
    expect(s.loss).toBeCloseTo(10 / 10, 12); // sum of |lp| = 10.0
    expect(s.perplexity).toBeCloseTo(Math.E, 12);
    expect(s.zlibBytes).toBe(deflateSync(Buffer.from("高血压的治疗")).length);
    expect(s.zlibRatio).toBeCloseTo(s.zlibBytes / 1, 12);
    expect(s.minKProb).toBeCloseTo((-4 + -2) / 2, 12); // 20% of 10 tokens = the 2 lowest
    expect(finite).toHaveLength(10);
  });

  it("returns undefined without finite log-probs and stays finite at zero loss", () => {
    expect(membershipScores("x", [Number.NaN])).toBeUndefined();
    expect(Number.isFinite(membershipScores("abc", [0, 0])!.zlibRatio)).toBe(true);
  });

  it("AUC is 1 for separated classes, 0.5 for ties", () => {
    expect(rocAuc([3, 4], [1, 2])).toBe(1);
    expect(rocAuc([3, 4], [1, 2], false)).toBe(0);
    expect(rocAuc([1, 1], [1, 1])).toBe(0.5);
    expect(rocAuc([], [1])).toBeNaN();
  });

  test.prop([fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 20 }), fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 20 })])(
    "AUC(p, n) + AUC(n, p) = 1 and matches pair counting",
    (p, n) => {
      const auc = rocAuc(p, n);
      expect(auc + rocAuc(n, p)).toBeCloseTo(1, 12);
      let wins = 0;
      for (const a of p) for (const b of n) wins += a > b ? 1 : a === b ? 0.5 : 0;
      expect(auc).toBeCloseTo(wins / (p.length * n.length), 12);
    },
  );
});
