import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { candidateProbability, lshParams } from "./lsh-params.js";

describe("lshParams", () => {
  it("favours recall at the default threshold", () => {
    const p = lshParams();
    expect([p.bands, p.rows]).toEqual([18, 6]);
    expect(p.recallAtThreshold).toBeGreaterThan(0.995);
    // datasketch's equal-weight optimum (9, 13) misses most pairs at exactly 0.8
    expect(candidateProbability(0.8, 9, 13)).toBeLessThan(0.41);
  });
  test.prop([fc.double({ min: 0.3, max: 0.95, noNaN: true }), fc.integer({ min: 16, max: 256 })], { numRuns: 30 })(
    "fits the signature and reaches the recall target when any setting can",
    (threshold, numPerm) => {
      const p = lshParams({ threshold, numPerm });
      expect(p.bands * p.rows).toBeLessThanOrEqual(numPerm);
      expect(p.recallAtThreshold).toBeCloseTo(candidateProbability(threshold, p.bands, p.rows), 12);
      const reachable = candidateProbability(threshold, numPerm, 1) >= 0.995;
      if (reachable) expect(p.recallAtThreshold).toBeGreaterThanOrEqual(0.995);
    },
  );
  it("rejects a bad threshold", () => {
    expect(() => lshParams({ threshold: 0 })).toThrow(RangeError);
    expect(() => lshParams({ threshold: 1.2 })).toThrow(RangeError);
  });
});
