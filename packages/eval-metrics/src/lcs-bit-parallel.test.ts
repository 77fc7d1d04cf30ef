import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { lcsOfSymbols } from "./lcs-bit-parallel.js";

/** Plain O(mn) dynamic programming: the oracle. */
function lcsDp(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const row = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}

const seq = (alphabet: number, maxLength: number) => fc.array(fc.integer({ min: 0, max: alphabet - 1 }), { maxLength });

describe("lcsOfSymbols", () => {
  it("handles the classic small cases", () => {
    expect(lcsOfSymbols([1, 2, 3, 2, 4, 1, 2], [2, 4, 3, 1, 2, 1])).toBe(4); // ABCBDAB vs BDCABA
    expect(lcsOfSymbols([], [1, 2])).toBe(0);
    expect(lcsOfSymbols([1, 2, 1, 2], [2, 1, 2, 1])).toBe(3);
    expect(lcsOfSymbols([5], [5])).toBe(1);
  });

  test.prop([seq(4, 40), seq(4, 40)], { numRuns: 400 })("equals DP on short sequences over a small alphabet", (a, b) => {
    expect(lcsOfSymbols(a, b)).toBe(lcsDp(a, b));
  });

  test.prop([seq(3, 300), seq(3, 300)], { numRuns: 150 })("equals DP across word boundaries (multi-word)", (a, b) => {
    expect(lcsOfSymbols(a, b)).toBe(lcsDp(a, b));
  });

  test.prop([seq(60, 200), seq(60, 500)], { numRuns: 100 })("equals DP over a large alphabet", (a, b) => {
    expect(lcsOfSymbols(a, b)).toBe(lcsDp(a, b));
  });

  test.prop([fc.integer({ min: 1, max: 130 }), fc.integer({ min: 0, max: 1000 })], { numRuns: 60 })(
    "is exact at lengths 31, 32, 33, 63, 64, 65 … (all-equal patterns saturate every bit)",
    (m, seed) => {
      const a = Array.from({ length: m }, (_, i) => ((i * 7 + seed) % 3));
      const b = Array.from({ length: m + (seed % 40) }, (_, i) => ((i * 5 + seed) % 3));
      expect(lcsOfSymbols(a, b)).toBe(lcsDp(a, b));
      expect(lcsOfSymbols(a, a)).toBe(m);
    },
  );

  test.prop([seq(5, 120), seq(5, 120)], { numRuns: 100 })("is symmetric and bounded by the shorter length", (a, b) => {
    const l = lcsOfSymbols(a, b);
    expect(lcsOfSymbols(b, a)).toBe(l);
    expect(l).toBeLessThanOrEqual(Math.min(a.length, b.length));
  });
});
