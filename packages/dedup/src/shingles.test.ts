import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { jaccard, shingles } from "./shingles.js";

describe("shingles", () => {
  it("takes 5-grams over code points", () => {
    expect(shingles("高血压患者能吃")).toEqual(["高血压患者", "血压患者能", "压患者能吃"]);
    expect(shingles("𠀀𠀁𠀂𠀃𠀄𠀅")).toEqual(["𠀀𠀁𠀂𠀃𠀄", "𠀁𠀂𠀃𠀄𠀅"]);
  });
  it("makes a short text one shingle and an empty text none", () => {
    expect(shingles("头痛")).toEqual(["头痛"]);
    expect(shingles("")).toEqual([]);
    expect(shingles("abc", { ngram: 2 })).toEqual(["ab", "bc"]);
    expect(() => shingles("x", { ngram: 0 })).toThrow(RangeError);
  });
  test.prop([fc.string({ unit: "grapheme", maxLength: 40 }), fc.integer({ min: 1, max: 6 })])("has at most len−n+1 distinct n-grams", (s, n) => {
    const cps = Array.from(s);
    const sh = shingles(s, { ngram: n });
    expect(new Set(sh).size).toBe(sh.length);
    if (cps.length === 0) expect(sh).toEqual([]);
    else if (cps.length < n) expect(sh).toEqual([s]);
    else {
      expect(sh.length).toBeLessThanOrEqual(cps.length - n + 1);
      for (const g of sh) expect(Array.from(g)).toHaveLength(n);
    }
  });
  test.prop([fc.array(fc.integer({ min: 0, max: 30 })), fc.array(fc.integer({ min: 0, max: 30 }))])("jaccard is symmetric and in [0, 1]", (a, b) => {
    const j = jaccard(a, b);
    expect(j).toBe(jaccard(b, a));
    expect(j).toBeGreaterThanOrEqual(0);
    expect(j).toBeLessThanOrEqual(1);
    if (a.length > 0) expect(jaccard(a, a)).toBe(1);
  });
});
