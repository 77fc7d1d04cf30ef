import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { EvalInputError } from "./errors.js";
import { formatWinTieLoss, signTestP, winTieLoss } from "./win-tie-loss.js";

describe("winTieLoss", () => {
  it("counts wins, ties and losses and formats them as percentages", () => {
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

describe("formatWinTieLoss", () => {
  /** Scores that make A win `w`, tie `t` and lose `l` times. */
  const scores = (w: number, t: number, l: number) => ({
    a: [...Array<number>(w).fill(1), ...Array<number>(t).fill(0), ...Array<number>(l).fill(0)],
    b: [...Array<number>(w).fill(0), ...Array<number>(t).fill(0), ...Array<number>(l).fill(1)],
  });

  it("prints the paper's cells from computed counts", () => {
    const { a, b } = scores(754, 0, 246);
    const r = winTieLoss(a, b, { resamples: 1 });
    expect([r.win, r.tie, r.loss, r.n]).toEqual([754, 0, 246, 1000]);
    expect(formatWinTieLoss(r, { digits: 3 })).toBe("0.754/0.000/0.246");
    expect(formatWinTieLoss(r)).toBe("0.754/0.000/0.246");
    expect(formatWinTieLoss(r, { percent: true })).toBe("75.4/0.0/24.6");
    expect(formatWinTieLoss(r, { digits: 1 })).toBe("0.8/0.0/0.2");
    expect(r.formatted).toBe("75.4/0.0/24.6");
    // Table 11, CMtMedQA row: 152 / 698 / 150 of 1000.
    const t11 = scores(152, 698, 150);
    expect(formatWinTieLoss(winTieLoss(t11.a, t11.b, { resamples: 1 }))).toBe("0.152/0.698/0.150");
  });

  it("rounds each rate on its own, halves up from the counts", () => {
    // 29/200 = 0.145 is 0.14499… as a float: toFixed(2) gives 0.14, the counts give 0.15.
    expect(formatWinTieLoss({ win: 29, tie: 0, loss: 171, n: 200, winRate: 29 / 200, tieRate: 0, lossRate: 171 / 200 }, { digits: 2 })).toBe("0.15/0.00/0.86");
    expect((29 / 200).toFixed(2)).toBe("0.14");
    // Three thirds: each rounds to 0.333, the cell sums to 0.999.
    expect(formatWinTieLoss({ win: 1, tie: 1, loss: 1, n: 3, winRate: 1 / 3, tieRate: 1 / 3, lossRate: 1 / 3 })).toBe("0.333/0.333/0.333");
    // Without counts the rates are printed as they are.
    expect(formatWinTieLoss({ winRate: 0.5, tieRate: 0.25, lossRate: 0.25 }, { digits: 2 })).toBe("0.50/0.25/0.25");
    expect(formatWinTieLoss({ win: 0, tie: 0, loss: 0, n: 0, winRate: 0, tieRate: 0, lossRate: 0 })).toBe("0.000/0.000/0.000");
    expect(() => formatWinTieLoss({ winRate: 0, tieRate: 0, lossRate: 0 }, { digits: -1 })).toThrow(EvalInputError);
  });

  test.prop([fc.nat(500), fc.nat(500), fc.nat(500), fc.integer({ min: 0, max: 6 })])("each cell is the rate rounded to the digits", (w, t, l, digits) => {
    fc.pre(w + t + l > 0);
    const n = w + t + l;
    const cell = formatWinTieLoss({ win: w, tie: t, loss: l, n, winRate: w / n, tieRate: t / n, lossRate: l / n }, { digits });
    const parts = cell.split("/");
    expect(parts).toHaveLength(3);
    [w, t, l].forEach((c, i) => {
      expect(parts[i]).toMatch(digits ? new RegExp(`^\\d+\\.\\d{${digits}}$`) : /^\d+$/);
      expect(Math.abs(Number(parts[i]) - c / n)).toBeLessThanOrEqual(0.5 * 10 ** -digits + 1e-12);
    });
  });
});
