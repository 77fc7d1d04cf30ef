import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { rougeL } from "@sfmed/eval-metrics";
import { MedicalLexicon } from "./medical-lexicon.js";
import { defaultMedicalLexicon } from "./medical-lexicon.js";
import { checkCandidate, checkForm, maxRougeLAgainst, noveltyRouge, resolveFilter } from "./quality-filter.js";

const lexicon = new MedicalLexicon(["高血压", "血压", "糖尿病", "患者", "药物", "胰岛素"]);
const ctx = (pool: string[] = [], seen: string[] = []) => ({ lexicon, pool, seen: new Set(seen) });

describe("quality filter", () => {
  it("accepts a complete, professional, novel Chinese instruction and names its terms", () => {
    const v = checkCandidate("高血压患者应该怎样调整药物？", ctx(["糖尿病如何注射胰岛素？"]));
    expect(v).toMatchObject({ ok: true, terms: ["高血压", "患者", "药物"] });
  });

  it.each([
    ["血压？", "too-short"],
    ["高血压患者应该怎样调整药物", "incomplete"],
    ["高血压患者（老年应该怎样调整药物？", "incomplete"],
    ["How do patients with 高血压 adjust their medicine?", "language"],
    ["今天的天气真是非常好啊。", "unprofessional"],
  ])("rejects %s as %s", (text, reason) => {
    expect(checkCandidate(text, ctx())).toMatchObject({ ok: false, reason });
  });

  it("rejects duplicates and near-duplicates of bank instructions (ROUGE-L ≥ 0.7)", () => {
    const bank = "高血压患者应该怎样调整药物？";
    expect(checkCandidate(bank, ctx([bank], [bank]))).toMatchObject({ ok: false, reason: "duplicate" });
    const near = "高血压患者应当怎样调整药物？";
    expect(rougeL(near, bank).f).toBeGreaterThanOrEqual(0.7);
    expect(checkCandidate(near, ctx([bank]))).toMatchObject({ ok: false, reason: "not-novel" });
    expect(checkCandidate(near, ctx([bank]), { maxRougeL: 0.99 })).toMatchObject({ ok: true });
  });

  it("asks for at least minTerms lexicon terms", () => {
    expect(checkCandidate("糖尿病患者早餐吃什么？", ctx(), { minTerms: 3 })).toMatchObject({ ok: false, reason: "unprofessional" });
    expect(checkCandidate("糖尿病患者早餐吃什么？", ctx(), { minTerms: 2 })).toMatchObject({ ok: true });
  });

  it("English mode: English punctuation and script, word-level ROUGE-L, English defaults", () => {
    const en = { language: "en" as const };
    const ctxEn = (pool: string[] = []) => ({ lexicon: defaultMedicalLexicon("en"), pool, seen: new Set<string>() });
    expect(checkCandidate("As a doctor, explain the treatment options to the patient with diabetes.", ctxEn(), en)).toMatchObject({
      ok: true,
      terms: ["doctor", "treatment", "patient", "diabetes"],
    });
    expect(checkCandidate("As a doctor, explain the treatment options to the patient", ctxEn(), en)).toMatchObject({ ok: false, reason: "incomplete" });
    expect(checkCandidate("作为医生，请向糖尿病患者解释治疗方案和用药注意事项。", ctxEn(), en)).toMatchObject({ ok: false, reason: "language" });
    expect(checkCandidate("Please explain your plans for the weekend trip.", ctxEn(), en)).toMatchObject({ ok: false, reason: "unprofessional" });
    expect(checkCandidate("Be a doctor.", ctxEn(), en)).toMatchObject({ ok: false, reason: "too-short" });
    // Words, not letters: a reordering of the same words is far from a copy, a one-word change is near.
    const bank = "As a doctor, explain the treatment options to the patient with diabetes.";
    expect(maxRougeLAgainst("As a doctor, explain the treatment choices to the patient with diabetes.", [bank], Infinity, noveltyRouge("en"))).toBeCloseTo(11 / 12, 6);
    expect(checkCandidate("As a doctor, explain the treatment choices to the patient with diabetes.", ctxEn([bank]), en)).toMatchObject({ ok: false, reason: "not-novel" });
    expect(resolveFilter({}, "en")).toMatchObject({ language: "en", minChars: 20, maxChars: 600, minLanguageRatio: 0.6 });
    expect(resolveFilter({ language: "en", maxChars: 100 })).toMatchObject({ language: "en", minChars: 20, maxChars: 100 });
    // The old name of the language ratio still works.
    expect(resolveFilter({ minChineseRatio: 0.9 })).toMatchObject({ language: "zh", minLanguageRatio: 0.9 });
    expect(checkForm("高血压 high blood pressure 患者。", { minChineseRatio: 0.9 })).toMatchObject({ ok: false, reason: "language" });
    expect(checkForm("作为医生，请向糖尿病患者详细解释治疗方案和用药注意事项。", { language: "en", minLanguageRatio: 0 })).toBeUndefined();
  });

  test.prop([fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 })])(
    "an accepted candidate is below the novelty threshold against every pool entry",
    (text, pool) => {
      const v = checkCandidate(text, ctx(pool));
      if (v.ok) for (const p of pool) expect(rougeL(text, p).f).toBeLessThan(0.7);
      if (checkForm(text) !== undefined) expect(v.ok).toBe(false);
    },
  );

  test.prop([fc.stringMatching(/^[A-Za-z ,]{8,60}[.?]$/)])("text without Han characters never passes", (text) => {
    expect(checkForm(text)).toMatchObject({ ok: false });
  });

  test.prop([fc.stringMatching(/^[\u4e00-\u9fa5]{8,40}$/), fc.constantFrom("", "（", "“")])(
    "an unclosed bracket or quote, or no final punctuation, is incomplete",
    (body, opener) => {
      const text = opener ? `${opener}${body}。` : body;
      expect(checkForm(text)).toMatchObject({ ok: false, reason: "incomplete" });
      expect(checkForm(`${body}。`)).toBeUndefined();
    },
  );
});
