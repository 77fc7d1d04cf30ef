import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { EvalInputError } from "./errors.js";
import { signTestP, winTieLoss } from "./win-tie-loss.js";

describe("winTieLoss", () => {
  it("counts wins, ties and losses and formats the paper's cell", () => {
    const r = winTieLoss([8, 7, 5, 9, 6], [6, 7, 8, 9, 2]);
    expect([r.win, r.tie, r.loss, r.n]).toEqual([2, 2, 1, 5]);
    expect(r.formatted).toBe("40.0/40.0/20.0");
  });

  it("applies the tie epsilon and drops missing scores", () => {
    const r = winTieLoss([8, 7.05, null, Number.NaN], [7.9, 7, 3, 1], { tieEpsilon: 0.1 });
    expect([r.win, r.tie, r.loss, r.dropped]).toEqual([0, 2, 0, 2]);
  });

  it("is reproducible for a seed and brackets the point estimate", () => {
    const a = Array.from({ length: 200 }, (_, i) => (i * 37) % 10);
    const b = Array.from({ length: 200 }, (_, i) => (i * 53) % 10);
    const r1 = winTieLoss(a, b, { seed: 7 });
    expect(winTieLoss(a, b, { seed: 7 }).ci).toEqual(r1.ci);
    expect(winTieLoss(a, b, { seed: 8 }).ci).not.toEqual(r1.ci);
    for (const k of ["win", "tie", "loss"] as const) {
      const [lo, hi] = r1.ci[k];
      expect(lo).toBeLessThanOrEqual(r1[`${k}Rate`]);
      expect(hi).toBeGreaterThanOrEqual(r1[`${k}Rate`]);
      expect(hi - lo).toBeLessThan(0.2);
    }
  });

  it("rejects arrays of different lengths", () => {
    expect(() => winTieLoss([1], [1, 2])).toThrow(EvalInputError);
  });

  test.prop([fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })), { maxLength: 60 })])(
    "rates sum to 1 and swapping the systems swaps wins and losses",
    (pairs) => {
      const a = pairs.map((p) => p[0]);
      const b = pairs.map((p) => p[1]);
      const r = winTieLoss(a, b, { resamples: 50 });
      const s = winTieLoss(b, a, { resamples: 50 });
      expect([s.win, s.tie, s.loss]).toEqual([r.loss, r.tie, r.win]);
      if (r.n) expect(r.winRate + r.tieRate + r.lossRate).toBeCloseTo(1, 12);
      expect(s.signTestP).toBeCloseTo(r.signTestP, 12);
    },
  );
});

describe("signTestP", () => {
  it("matches exact binomial tails", () => {
    // n = 10, k = 2: 2·(1 + 10 + 45)/1024
    expect(signTestP(8, 2)).toBeCloseTo((2 * 56) / 1024, 12);
    expect(signTestP(5, 5)).toBe(1);
    expect(signTestP(0, 0)).toBe(1);
    expect(signTestP(30, 0)).toBeCloseTo(2 / 2 ** 30, 20);
  });
});
