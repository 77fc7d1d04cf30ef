import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { splitCandidates } from "./split-candidates.js";

describe("splitCandidates", () => {
  it("strips list markers of every common shape and drops preambles", () => {
    const text = [
      "以下是扩展的指令：",
      "1. 糖尿病患者如何饮食？",
      "2、“高血压怎么办？”",
      "(3) 1.5毫克的剂量够吗？",
      "（4）孕妇能吃布洛芬吗？",
      "- **头痛怎么治疗？**",
      "• 哮喘发作时怎么办？",
      "五、肺炎需要住院吗？",
      "",
      "第6条：贫血吃什么好？",
    ].join("\n");
    expect(splitCandidates(text)).toEqual([
      "糖尿病患者如何饮食？",
      "高血压怎么办？",
      "1.5毫克的剂量够吗？",
      "孕妇能吃布洛芬吗？",
      "头痛怎么治疗？",
      "哮喘发作时怎么办？",
      "肺炎需要住院吗？",
      "贫血吃什么好？",
    ]);
  });

  it("drops the last item of a truncated answer", () => {
    expect(splitCandidates("1. 第一条完整。\n2. 第二条被截", { truncated: true })).toEqual(["第一条完整。"]);
  });

  it("Figure 2 answers are one instruction: preamble dropped, wrapped lines joined, a cut-off answer dropped", () => {
    expect(splitCandidates("好的，以下是扩展的指令：\n作为医生，请根据患者的症状给出诊断意见。", { mode: "one" })).toEqual(["作为医生，请根据患者的症状给出诊断意见。"]);
    expect(splitCandidates("“作为医生，请根据患者的症状\n给出诊断意见。”", { mode: "one" })).toEqual(["作为医生，请根据患者的症状给出诊断意见。"]);
    expect(splitCandidates("Sure, here is an extended instruction:\nAs a doctor, assess the patient's\nsymptoms first.", { mode: "one", joiner: " " })).toEqual([
      "As a doctor, assess the patient's symptoms first.",
    ]);
    expect(splitCandidates("作为医生，请根据患者的症状", { mode: "one", truncated: true })).toEqual([]);
    expect(splitCandidates("以下是扩展的指令：\n\n", { mode: "one" })).toEqual([]);
    // A list after all: split it, as the paper splits the generated instructions.
    expect(splitCandidates("以下是扩展的指令：\n1. 第一条指令。\n2. 第二条指令。", { mode: "one" })).toEqual(["第一条指令。", "第二条指令。"]);
    expect(splitCandidates("- 第一条指令，\n接着写完。", { mode: "one" })).toEqual(["第一条指令，接着写完。"]);
  });

  test.prop([fc.array(fc.stringMatching(/^[\u4e00-\u9fa5]{2,12}[。？]$/), { maxLength: 20 })])(
    "numbered lists of plain sentences round-trip",
    (items) => {
      const text = items.map((s, i) => `${i + 1}. ${s}`).join("\n");
      expect(splitCandidates(text)).toEqual(items);
    },
  );

  test.prop([fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("1. ", "2、", "（3）", "- ", "• ", "以下是扩展的指令：", "\n", "\r\n", "  ")), { maxLength: 30 }).map((xs) => xs.join(""))])(
    "candidates are never empty, never padded, never start with a list marker",
    (text) => {
      for (const c of splitCandidates(text)) {
        expect(c.length).toBeGreaterThan(0);
        expect(c).toBe(c.trim());
        expect(c).not.toMatch(/^(?:\d{1,3}(?:[.．:：](?!\d)|[、)）])|[（(]\d{1,3}[)）]|[-*+]\s|[•·●▪◦])/u);
        expect(c).not.toContain("\n");
      }
      // The Figure 2 split is at most one candidate: the list split's items joined.
      // The Figure 2 split: one candidate, or the list split when the answer was a list after all.
      const one = splitCandidates(text, { mode: "one" });
      if (one.length > 1) expect(one).toEqual(splitCandidates(text));
      for (const c of one) {
        expect(c.length).toBeGreaterThan(0);
        expect(c).toBe(c.trim());
        expect(c).not.toContain("\n");
      }
    },
  );
});
