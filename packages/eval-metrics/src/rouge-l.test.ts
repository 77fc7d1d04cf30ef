import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { lcsLength, rougeL, RougeError } from "./rouge-l.js";
import { tokenize, charCodes } from "./tokenize.js";

describe("rougeL", () => {
  it("scores the eval.md worked example at the character level (true LCS, F = 0.65)", () => {
    const s = rougeL("高血压患者应该低盐饮食，适量运动。", "高血压病人需要低盐低脂饮食，并且坚持适量运动。");
    expect(s.precision).toBeCloseTo(13 / 17, 15);
    expect(s.recall).toBeCloseTo(13 / 23, 15);
    expect(s.f).toBeCloseTo(0.65, 15);
  });

  it("uses list semantics, not sets (ABAB vs BABA is 0.75, 的的的的 vs 的 is 0.4)", () => {
    expect(rougeL("ABAB", "BABA").f).toBeCloseTo(0.75, 15);
    const s = rougeL("的的的的", "的");
    expect([s.precision, s.recall]).toEqual([0.25, 1]);
    expect(s.f).toBeCloseTo(0.4, 15);
  });

  it("drops whitespace (incl. full-width space) and counts astral characters once", () => {
    expect(rougeL("高 血\u3000压", "高血压")).toEqual({ precision: 1, recall: 1, f: 1 });
    expect(Array.from(charCodes("𠀀a"))).toEqual([0x20000, 97]);
    expect(rougeL("𠀀𠀁", "𠀀").precision).toBe(0.5);
  });

  it("scores empty sides 0 by default and throws under the rouge-chinese convention", () => {
    expect(rougeL("", "")).toEqual({ precision: 0, recall: 0, f: 0 });
    expect(rougeL("  ", "abc").f).toBe(0);
    expect(() => rougeL("", "高血压", { compat: "rouge-chinese" })).toThrow(RougeError);
    expect(() => rougeL("高血压", " ", { empty: "throw" })).toThrow(/Reference is empty/);
  });

  it("reproduces rouge-chinese: jieba words and the 1e-8 epsilon", () => {
    const same = rougeL("高血压患者应该低盐饮食。", "高血压患者应该低盐饮食。", { compat: "rouge-chinese" });
    expect(same.f).toBe((2 * 1 * 1) / (1 + 1 + 1e-8));
    const words = tokenize("高血压患者应该低盐饮食", "jieba");
    expect(words.join("")).toBe("高血压患者应该低盐饮食");
    expect(words.length).toBeLessThan(8);
    // Python jieba cuts "7-10" into 7 / - / 10; the compat tokens follow it (LCS 4 of 5 tokens, not 2 of 3).
    const r = rougeL("休息7-10天", "休息7-8天", { compat: "rouge-chinese" });
    expect(r.precision).toBeCloseTo(4 / 5, 12);
  });

  it("accepts whitespace and function tokenizers", () => {
    expect(rougeL("a b c d", "a c d e", { tokenizer: "whitespace" }).f).toBeCloseTo(0.75, 15);
    expect(rougeL("ab-cd", "cd-ab", { tokenizer: (s) => s.split("-") }).f).toBe(0.5);
  });

  test.prop([fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 })], { numRuns: 200 })(
    "F equals 2L/(m+n) over code points and lies in [0,1]",
    (a, b) => {
      const s = rougeL(a, b);
      const m = charCodes(a).length;
      const n = charCodes(b).length;
      const l = lcsLength(Array.from(charCodes(a)), Array.from(charCodes(b)));
      expect(s.f).toBeCloseTo(m && n ? (2 * l) / (m + n) : 0, 12);
      expect(s.f).toBeGreaterThanOrEqual(0);
      expect(s.f).toBeLessThanOrEqual(1);
      expect(rougeL(b, a).f).toBeCloseTo(s.f, 15);
    },
  );
});

describe("lcsLength", () => {
  it("compares strings by code points and arrays by element", () => {
    expect(lcsLength("𠀀b𠀀", "𠀀𠀀")).toBe(2);
    expect(lcsLength(["高血压", "患者"], ["患者", "高血压", "患者"])).toBe(2);
    expect(lcsLength([1, "1"], ["1", 1])).toBe(1);
  });
});
