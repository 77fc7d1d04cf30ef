import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { matchContent, scoreOptions } from "./choice-content.js";
import { classifyStem } from "./choice-stem.js";

describe("classifyStem", () => {
  it("reads the question's last clause for negation", () => {
    for (const q of ["下列不属于酮症酸中毒补液方法的是", "下列诊断支气管哮喘的依据，错误的是", "下列常出现血沉明显增快的情况，应除外", "高血压合并糖尿病患者，不宜用下列哪类药物", "黄疸伴胆囊增大不会见于"]) {
      expect(classifyStem(q).negated, q).toBe(true);
    }
    // Negations inside the case description, and words like 不寐, do not make the stem negated.
    for (const q of ["患儿，4岁。不能独立行走，全身无力，面色无华，舌淡苔薄白。其治法是", "肿疡毒势方盛，正气已虚，不能托毒外出者，内治方药宜选用", "治疗不寐心脾两虚证的首选方剂是", ""]) {
      expect(classifyStem(q).negated, q).toBe(false);
    }
    expect(classifyStem(undefined)).toEqual({ negated: false, multiple: false });
  });

  it("spots multi-answer stems", () => {
    expect(classifyStem("下列哪些属于肝阳上亢的表现").multiple).toBe(true);
    expect(classifyStem("（多选题）下列说法正确的是").multiple).toBe(true);
    expect(classifyStem("下列哪项属于肝阳上亢的表现").multiple).toBe(false);
  });
});

describe("matchContent", () => {
  const opts = { A: "益气养阴", B: "活血化瘀，通络止痛", C: "清热利湿", D: "疏肝理气", E: "温阳利水" };
  it("matches paraphrased and typo'd option content", () => {
    expect(matchContent("综上，最合适的治法为活血化瘀、通络止痛。", opts)).toEqual(["B"]);
    expect(matchContent("所以应以活血化於通络止痛为主", opts)).toEqual(["B"]);
    expect(matchContent("因此，本题的答案应该是益气养阴。", opts)).toEqual(["A"]);
  });
  it("abstains without a clear margin and prefers the most specific option quoted whole", () => {
    expect(matchContent("可以清热利湿或疏肝理气", opts)).toEqual([]);
    expect(matchContent("结论：慢性肾盂肾炎", { A: "急性肾盂肾炎", B: "慢性肾盂肾炎", C: "膀胱炎" })).toEqual(["B"]);
    expect(matchContent("结论：肾盂肾炎", { A: "急性肾盂肾炎", B: "慢性肾盂肾炎", C: "膀胱炎" })).toEqual([]);
  });
  it("returns several options only for multi-answer questions", () => {
    expect(matchContent("正确的是清热利湿和温阳利水", opts)).toEqual([]);
    expect(matchContent("正确的是清热利湿和温阳利水", opts, { multiple: true })).toEqual(["C", "E"]);
  });
  test.prop([fc.string({ maxLength: 60 })])("scores stay in [0, 1], best first", (s) => {
    const sc = scoreOptions(s, opts);
    for (const x of sc) expect(x.score).toBeGreaterThanOrEqual(0), expect(x.score).toBeLessThanOrEqual(1);
    for (let i = 1; i < sc.length; i++) expect(sc[i - 1]!.score).toBeGreaterThanOrEqual(sc[i]!.score);
  });
});
