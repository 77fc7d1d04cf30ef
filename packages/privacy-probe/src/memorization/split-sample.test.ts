import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { PrivacyProbeError } from "../errors.js";
import { kExtractableSplit, splitText } from "./split-sample.js";

describe("splitText", () => {
  it("splits by ratio at character boundaries, surrogate pairs included", async () => {
    expect(await splitText("高血压患者应低盐饮食", { split: { ratio: 0.5 } })).toEqual({ prefix: "高血压患者", suffix: "应低盐饮食", prefixTokens: 5, suffixTokens: 5 });
    expect(await splitText("𠀀𠀁𠀂𠀃", { split: { ratio: 0.5 } })).toMatchObject({ prefix: "𠀀𠀁", suffix: "𠀂𠀃" });
    expect(await splitText("高", { split: { ratio: 0.5 } })).toBeUndefined();
  });

  it("uses the tokenizer's boundaries", async () => {
    const words = (t: string) => t.match(/\S+\s*/g) ?? [];
    expect(await splitText("one two three four", { split: { suffixTokens: 1 }, tokenizer: words })).toMatchObject({ prefix: "one two three ", suffix: "four" });
    expect(await splitText("a b c d e f", { split: kExtractableSplit(2, 3), tokenizer: words })).toEqual({ prefix: "a b ", suffix: "c d e ", prefixTokens: 2, suffixTokens: 3 });
    expect(await splitText("a b c", { split: kExtractableSplit(2, 3), tokenizer: words })).toBeUndefined();
  });

  it("rejects bad specs", async () => {
    await expect(splitText("abc", { split: { ratio: 1 } })).rejects.toBeInstanceOf(PrivacyProbeError);
    await expect(splitText("abc", { split: { suffixTokens: 0 } })).rejects.toBeInstanceOf(PrivacyProbeError);
  });

  test.prop([fc.string({ unit: "grapheme", minLength: 2, maxLength: 60 }), fc.double({ min: 0.01, max: 0.99, noNaN: true })])(
    "prefix + suffix is the text and both sides are non-empty",
    async (text, ratio) => {
      const s = await splitText(text, { split: { ratio } });
      if (Array.from(text).length < 2) return expect(s).toBeUndefined();
      expect(s!.prefix + s!.suffix).toBe(text);
      expect(s!.prefix.length).toBeGreaterThan(0);
      expect(s!.suffix.length).toBeGreaterThan(0);
      expect(s!.prefixTokens + s!.suffixTokens).toBe(Array.from(text).length);
    },
  );
});
