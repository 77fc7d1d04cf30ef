import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { preferenceStrength } from "./preference-strength.js";

const score = fc.double({ min: -50, max: 50, noNaN: true, noDefaultInfinity: true });
const scored = fc.integer({ min: 1, max: 12 }).chain((m) => fc.tuple(fc.array(score, { minLength: m, maxLength: m }), fc.array(score, { minLength: m, maxLength: m })));

describe("preferenceStrength", () => {
  it("takes the mean and the population std of chosen − rejected", () => {
    const s = preferenceStrength({ chosen: [1, 2, 3], rejected: [0, 0, 0] });
    expect(s.diffs).toEqual([1, 2, 3]);
    expect(s.mean).toBe(2);
    // ÷M, not ÷(M−1): sqrt((1 + 0 + 1) / 3)
    expect(s.std).toBeCloseTo(Math.sqrt(2 / 3), 15);
    expect(preferenceStrength({ chosen: [0.5], rejected: [2] })).toEqual({ mean: -1.5, std: 0, diffs: [-1.5] });
  });

  it("refuses an empty ensemble and mismatched lists", () => {
    expect(() => preferenceStrength({ chosen: [], rejected: [] })).toThrow(RangeError);
    expect(() => preferenceStrength({ chosen: [1, 2], rejected: [1] })).toThrow(/2 chosen scores but 1/);
  });

  test.prop([scored])("matches the textbook formulas", ([c, r]) => {
    const d = c.map((x, i) => x - r[i]!);
    const mu = d.reduce((a, b) => a + b, 0) / d.length;
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - mu) ** 2, 0) / d.length);
    const s = preferenceStrength({ chosen: c, rejected: r });
    expect(s.mean).toBeCloseTo(mu, 9);
    expect(s.std).toBeCloseTo(sd, 9);
  });

  test.prop([scored, fc.integer()])("is bit-for-bit invariant to the reward-model order", ([c, r], seed) => {
    const idx = c.map((_, i) => i);
    // deterministic shuffle from the seed
    let a = seed >>> 0;
    for (let i = idx.length - 1; i > 0; i--) {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      const j = a % (i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    const s1 = preferenceStrength({ chosen: c, rejected: r });
    const s2 = preferenceStrength({ chosen: idx.map((i) => c[i]!), rejected: idx.map((i) => r[i]!) });
    expect(Object.is(s1.mean, s2.mean)).toBe(true);
    expect(Object.is(s1.std, s2.std)).toBe(true);
  });

  test.prop([scored])("swapping chosen and rejected negates μ exactly and keeps σ", ([c, r]) => {
    const s1 = preferenceStrength({ chosen: c, rejected: r });
    const s2 = preferenceStrength({ chosen: r, rejected: c });
    expect(s2.mean === -s1.mean).toBe(true);
    expect(s2.std).toBe(s1.std);
  });
});
