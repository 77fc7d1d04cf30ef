import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { explainChoice, extractChoice } from "./choice-extract.js";

const TCM = { A: "肝阳上亢", B: "肝肾阴虚", C: "肝阳化风", D: "阴虚风动", E: "肝血不足" };

// The tricky replies of eval.md §3.8 (gold, reply), where public extractors disagree or guess.
const TABLE: [string, string][] = [
  ["C", "该患者应诊断为肝阳化风（C）。A项肝阳上亢无动风表现，排除。"],
  ["C", "A项错误，B项错误，C项正确，D项错误。"],
  ["C", "建议行CT检查排除脑血管意外，本题答案为C。"],
  ["C", "维生素D缺乏与本题无关。答案是C"],
  ["C", "正确答案不是A，而是C。"],
  ["C", "肝阳化风"],
  ["BD", "答案：B、D"],
  ["ABE", "本题为多选题，正确答案为ABE。"],
  ["ABE", "正确选项：A、B和E"],
  ["C", "The answer is (C)."],
  ["", "抱歉，我无法回答该问题，建议咨询医生。"],
  ["C", "HBV-DNA阳性提示病毒复制活跃，IgA肾病与此无关，A型胃炎属自身免疫性。综上，答案为C"],
  ["C", "不选A，应选C"],
  ["C", "排除A、B，答案C"],
  ["C", "选项A、B、D均错误，故本题选C"],
  ["C", "正确答案：C\n解析：A项……B项……"],
  ["ACD", "答案：A，C，D"],
  ["D", "最佳答案是D，其次是B"],
];

describe("extractChoice on the eval.md table", () => {
  for (const [gold, reply] of TABLE) {
    it(`${JSON.stringify(reply)} → ${gold || "abstain"}`, () => {
      expect(extractChoice(reply, TCM, { multiple: gold.length > 1 }).join("")).toBe(gold);
    });
  }
});

describe("extractChoice details", () => {
  it("reads full-width letters and strips <think> blocks", () => {
    expect(extractChoice("答案是Ｃ。", TCM)).toEqual(["C"]);
    expect(extractChoice("<think>也许答案是A？不对。</think>\n答案：B", TCM)).toEqual(["B"]);
    expect(extractChoice("我先想想……答案是A吗？</think>最终答案：D", TCM)).toEqual(["D"]);
  });

  it("does not read capitals inside medical terms as options", () => {
    for (const reply of ["建议先做CT和MRI检查。", "患者HBV DNA阳性。", "IgA肾病常见。", "缺乏维生素D。", "B超提示胆囊结石。", "A型血患者", "NYHA心功能分级III级"]) {
      expect(extractChoice(reply, TCM)).toEqual([]);
    }
  });

  it("prefers the first anchor when the reply opens with the answer, the last conclusion otherwise", () => {
    expect(extractChoice("答案：B\n解析：有人误以为答案是A，其实不然。", TCM)).toEqual(["B"]);
    expect(extractChoice("初看答案似乎是A，但患者有动风表现，所以答案是C。", TCM)).toEqual(["C"]);
  });

  it("matches option contents, preferring the most specific", () => {
    const opts = { A: "肺炎", B: "肺炎链球菌肺炎", C: "支气管炎", D: "肺结核" };
    expect(extractChoice("综合症状和影像，诊断为肺炎链球菌肺炎。", opts)).toEqual(["B"]);
    expect(extractChoice("肺炎", opts)).toEqual(["A"]);
    expect(extractChoice("不是肝阳上亢，而是肝阳化风。", TCM)).toEqual(["C"]);
  });

  it("understands English phrasings", () => {
    expect(extractChoice("Option B is correct because the patient has …", TCM)).toEqual(["B"]);
    expect(extractChoice("A patient like this needs imaging. Final answer: \\boxed{D}", TCM)).toEqual(["D"]);
    expect(extractChoice("A is wrong and B is wrong, so the answer is E.", TCM)).toEqual(["E"]);
    expect(extractChoice("I would choose a different approach.", TCM)).toEqual([]);
  });

  it("reads letter-first verdicts and inclusive lists", () => {
    expect(extractChoice("C项肝阳化风是正确答案，其余选项均不符合。", TCM)).toEqual(["C"]);
    expect(extractChoice("A是对的吗？不是。B是对的，C是错的。", TCM)).toEqual(["B"]);
    expect(extractChoice("正确答案包括A、B和E。", TCM, { multiple: true })).toEqual(["A", "B", "E"]);
    expect(extractChoice("（B错，为本题正确答案）", TCM)).toEqual(["B"]);
    expect(extractChoice("动风由肝阳化风所致（C对），肝阳上亢（A错）无动风。", TCM)).toEqual(["C"]);
  });

  it("abstains on long text that mentions letters or option words without concluding", () => {
    const long = "肝阳上亢多见头晕目眩、急躁易怒等表现，其病机为肝肾阴虚、阳亢于上。临床辨证时需结合舌脉综合判断，并与其他证型鉴别。";
    expect(extractChoice(long, TCM)).toEqual([]);
    expect(extractChoice("多肽链中α-螺旋占75%，形成A至H的8个螺旋区，两个螺旋区之间有一段无规卷曲，脯氨酸位于拐角处。", TCM)).toEqual([]);
    expect(extractChoice("答案A不是本题所问，说法错误。", TCM)).toEqual([]);
  });

  it("keeps the English article apart from option A only when a noun follows", () => {
    expect(extractChoice("I would choose A because it best matches the question.", TCM)).toEqual(["A"]);
    expect(extractChoice("A patient with vertigo. The answer is B.", TCM)).toEqual(["B"]);
  });

  it("says which rule decided", () => {
    expect(explainChoice("答案是C", TCM).rule).toBe("anchor");
    expect(explainChoice("肝阳化风", TCM).rule).toBe("content");
    expect(explainChoice("不知道", TCM).rule).toBe("none");
  });

  test.prop([fc.constantFrom("A", "B", "C", "D", "E"), fc.constantFrom("答案是", "故选", "正确答案：", "The answer is ", "本题应选")])(
    "returns the anchored letter for any anchor",
    (letter, anchor) => {
      expect(extractChoice(`${anchor}${letter}。`, TCM)).toEqual([letter]);
    },
  );

  test.prop([fc.string({ maxLength: 80 })])("returns only sorted, distinct option letters and never throws", (reply) => {
    const r = extractChoice(reply, { A: "x1", B: "y2", C: "z3" });
    expect(r).toEqual([...new Set(r)].sort());
    for (const l of r) expect(["A", "B", "C"]).toContain(l);
  });
});

describe("extractChoice with the question stem", () => {
  const ZY = { A: "益气养阴", B: "活血化瘀，通络止痛", C: "清热利湿", D: "疏肝理气", E: "温阳利水" };
  const POS = "患者胸痛如刺，痛处固定，舌紫暗。其治法是";
  const NEG = "下列各项，不属于胸痹治法的是";
  const ex = (r: string, question: string, multiple = false) => extractChoice(r, ZY, { question, multiple });

  it("content-only conclusions, after discussing other options", () => {
    expect(ex("清热利湿适用于湿热证，疏肝理气适用于气滞。因此，本题的答案应该是益气养阴。", POS)).toEqual(["A"]);
    expect(ex("患者舌紫暗，属血瘀。综上，最合适的治法为活血化瘀、通络止痛。", POS)).toEqual(["B"]);
    expect(explainChoice("综上，最合适的治法为活血化瘀、通络止痛。", ZY, { question: POS }).rule).toBe("conclusion");
  });

  it("negated stems: the option declared wrong is the choice; for a positive stem it is an elimination", () => {
    expect(ex("A项属于；B项也属于。因此，选项E是错误的。", NEG)).toEqual(["E"]);
    expect(ex("A项属于；B项也属于。因此，选项E是错误的。", POS)).toEqual([]);
    expect(ex("所以D不属于胸痹的治法。", NEG)).toEqual(["D"]);
    expect(ex("其余选项都符合，只有B不符合，故选B。", NEG)).toEqual(["B"]);
    expect(ex("因此，不属于的是温阳利水。", NEG)).toEqual(["E"]);
    expect(explainChoice("因此，选项E是错误的。", ZY, { question: NEG }).stem.negated).toBe(true);
  });

  it("negated stems: a bare 正确/错误 walk is read both ways, keeping the reading that fits, abstaining when both fit", () => {
    expect(ex("A项正确，B项正确，C项正确，D项正确，E项错误。", NEG)).toEqual(["E"]);
    // Four statements wrong cannot answer a single-answer question: here 正确 names the choice.
    expect(ex("A项错误，B项正确，C项错误，D项错误，E项错误。", NEG)).toEqual(["B"]);
    expect(ex("Option C is correct. A is incorrect.", NEG)).toEqual([]);
    // 说法/描述 judge statements: the wrong ones are chosen.
    expect(ex("A、B、C说法正确，D、E说法错误。", NEG, true)).toEqual(["D", "E"]);
    expect(ex("A、B、C说法正确，D、E说法错误。", POS, true)).toEqual(["A", "B", "C"]);
  });

  it("letter conclusions in free word order", () => {
    const cases: [string, string][] = [
      ["A、C均可考虑。所以选项D是最符合题意的。", "D"],
      ["根据舌脉，应该选择D。", "D"],
      ["正确的应当是益气养阴，即选项A。", "A"],
      ["A项不妥，C项不妥，其中只有B选项最符合题干的描述。", "B"],
      ["综上，答案为Ｄ。", "D"],
      ["故本题应选D项。", "D"],
      ["A、B两项不符，故本题选择（D）。", "D"],
      ["### 结论\n**D**", "D"],
      ["A项……B项……C项需与E项鉴别。\n\n答案：D", "D"],
      ["A和C都有一定道理。但是题目要求选择一个答案，所以我们选择A。", "A"],
      ["有人可能会选C，但C并不符合，正确答案应为D。", "D"],
    ];
    for (const [r, gold] of cases) expect(ex(r.replace(/\\n/g, "\n"), POS).join(""), r).toBe(gold);
  });

  it("multiple answers, and 「B和C都不是……」 on negated multi-answer questions", () => {
    for (const r of ["因此答案是B和C。", "答案：BC", "正确选项为B、C。", "选项B与C都正确。"]) expect(ex(r, POS, true), r).toEqual(["B", "C"]);
    expect(ex("B和C都不是胸痹的治法，故选BC。", NEG, true)).toEqual(["B", "C"]);
  });

  it("after a turn (但/不过) only the rest concludes; a turn into a hedge still abstains", () => {
    expect(ex("选项C和D都有可能，但C更符合题意。", POS)).toEqual(["C"]);
    expect(ex("清热利湿和疏肝理气都有可能，但疏肝理气更符合。", POS)).toEqual(["D"]);
    expect(ex("C和D都有可能，但需要更多信息。", POS)).toEqual([]);
  });

  it("an echoed question with its option list is not an answer; chosen options on their own lines are", () => {
    expect(ex("应首选\nA. 益气养阴\nB. 活血化瘀，通络止痛\nC. 清热利湿", POS)).toEqual([]);
    expect(ex("综上所述，正确选项为：\n\nB. 活血化瘀，通络止痛", POS)).toEqual(["B"]);
  });

  it("abstains on answers that choose nothing", () => {
    for (const r of ["以上选项都不正确。", "仅凭题干无法确定答案。", "抱歉，我无法回答该问题。", "答案是C吗？我不确定。", `题目问的是：${POS}。需要在A、B、C、D、E中选择。`]) {
      expect(ex(r, POS), r).toEqual([]);
      expect(ex(r, POS, true), r).toEqual([]);
    }
  });
});
