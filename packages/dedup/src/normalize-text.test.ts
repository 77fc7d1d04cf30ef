import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { normalizedCodePointsInto, normalizeText, normalizeTextReference } from "./normalize-text.js";

describe("normalizeText", () => {
  it("folds width and case, drops punctuation, symbols and spaces", () => {
    expect(normalizeText("高血压，５ＭＧ！ Hello, World.")).toBe("高血压5mghelloworld");
    expect(normalizeText("【患者】：  “头痛”……？")).toBe("患者头痛");
    expect(normalizeText("A+B=C ±5% ℃")).toBe("abc5c");
  });
  it("keeps numbers verbatim (5mg is not 50mg)", () => {
    expect(normalizeText("5mg")).not.toBe(normalizeText("50mg"));
    expect(normalizeText("体温39.5度")).toBe("体温395度");
    expect(normalizeText("②号")).toBe("2号");
  });
  it("keeps characters outside the BMP", () => {
    expect(normalizeText("𠀀𪚥 a")).toBe("𠀀𪚥a");
  });
  it("composes Hangul across characters as NFKC does (fast paths decline compatibility jamo)", () => {
    const out = new Int32Array(16);
    for (const s of ["㉮ㄳ", "ㄱㅏ", "가ㄳ", "ㄱㅏㄳ", "한ㅏ", "x㉮ㄳ5"]) {
      const want = normalizeTextReference(s);
      expect(normalizeText(s)).toBe(want);
      const n = normalizedCodePointsInto(s, out);
      if (n >= 0) expect(String.fromCodePoint(...out.subarray(0, n))).toBe(want);
    }
    expect(normalizeTextReference("㉮ㄳ")).toBe("갃"); // [44035], not [44032, 4522]
  });
  const chunk = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) }),
    fc.string({ unit: fc.integer({ min: 0x4e00, max: 0x9fff }).map((c) => String.fromCharCode(c)) }),
    fc.string({ unit: fc.integer({ min: 0xff00, max: 0xff70 }).map((c) => String.fromCharCode(c)) }),
    fc.string({ unit: fc.integer({ min: 0x2000, max: 0x3030 }).map((c) => String.fromCharCode(c)) }),
    fc.string({ unit: fc.integer({ min: 0x80, max: 0x3ff }).map((c) => String.fromCharCode(c)) }),
    fc.string({ unit: fc.integer({ min: 0x2000, max: 0x3400 }).map((c) => String.fromCharCode(c)), maxLength: 8 }),
    fc.constantFrom("ΑΣ", "Σ", "ς", "İ", "\u0308", "\u3099", "か", "ｶﾞ", "①②", "×", "±", "μg", "㎏", "Ⅳ"),
    fc.constantFrom("㉮", "ㄳ", "ㄱ", "ㅏ", "가", "\u1161", "\u11aa"),
    fc.constantFrom("\u0301", "ＡＢｃ１２", "，。！？；：、“”‘’（）【】《》…—·", "℃", "Ⅻ", "ﬁ", "㎎", "\u00a0"),
  );
  test.prop([fc.array(chunk, { maxLength: 6 }).map((a) => a.join(""))], { numRuns: 500 })("fast path equals NFKC + lower + L/N filter", (s) => {
    expect(normalizeText(s)).toBe(normalizeTextReference(s));
  });
  test.prop([fc.array(chunk, { maxLength: 6 }).map((a) => a.join(""))], { numRuns: 1500 })("fused code points equal those of the reference, or decline", (s) => {
    const out = new Int32Array(s.length);
    const n = normalizedCodePointsInto(s, out);
    const want = Array.from(normalizeTextReference(s)).map((c) => c.codePointAt(0));
    if (n >= 0) expect(Array.from(out.subarray(0, n))).toEqual(want);
    else expect(normalizeText(s)).toBe(normalizeTextReference(s));
    if (/^[\u4e00-\u9fff，。！？、a-zA-Z0-9 ×±°αβμ①②③℃ⅡⅢ≥≤→²₂⁺]*$/.test(s)) expect(n).toBe(want.length);
  });
  it("maps every tabled symbol like the definition, alone and between letters and digits", () => {
    const out = new Int32Array(64);
    let tabled = 0;
    for (let c = 0x80; c < 0x3400; c++) {
      for (const s of [String.fromCharCode(c), `x${String.fromCharCode(c)}5`, `${String.fromCharCode(c)}一${String.fromCharCode(c)}`]) {
        const n = normalizedCodePointsInto(s, out);
        if (n < 0) continue;
        tabled++;
        expect(String.fromCodePoint(...out.subarray(0, n))).toBe(normalizeTextReference(s));
      }
    }
    expect(tabled).toBeGreaterThan(12_000); // most of the blocks take the table
  });
  test.prop([fc.string({ unit: "binary" })])("is idempotent and leaves only letters and numbers", (s) => {
    const n = normalizeText(s);
    expect(normalizeText(n)).toBe(n);
    expect(/^[\p{L}\p{N}]*$/u.test(n)).toBe(true);
  });
});
