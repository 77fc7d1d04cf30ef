import type { ChoiceQuestion, Prediction, ReferenceQA } from "@sfmed/schema";
import { describe, expect, it } from "vitest";
import { evaluateChoices, evaluateCompare, evaluateRouge, questionText } from "./evaluate.js";
import { renderHtml } from "./report-html.js";
import { renderMarkdown } from "./report-markdown.js";
import { rougeL } from "./rouge-l.js";

const qa = (id: string, q: string, reference: string): ReferenceQA => ({ id, prompt: [{ role: "user", content: q }], reference });
const refs = [qa("1", "高血压饮食？", "低盐低脂饮食，适量运动。"), qa("2", "感冒怎么办？", "多休息，多饮水，必要时对症治疗。"), qa("3", "失眠？", "规律作息。")];
const pred = (model: string, id: string, output: string): Prediction => ({ id, model, output });

describe("evaluateRouge", () => {
  it("averages per system and scores missing answers 0", async () => {
    const { report, items } = await evaluateRouge(refs, [pred("a", "1", "低盐饮食，适量运动。"), pred("a", "2", "多休息多饮水。"), pred("b", "1", "低盐低脂饮食，适量运动。")]);
    const a = report.systems.find((s) => s.model === "a")!;
    const expected = (rougeL("低盐饮食，适量运动。", refs[0]!.reference).f + rougeL("多休息多饮水。", refs[1]!.reference).f) / 3;
    expect(a.f).toBeCloseTo(expected, 12);
    expect(a.missing).toBe(1);
    expect(report.systems.find((s) => s.model === "b")!.f).toBeCloseTo(1 / 3, 12);
    expect(items).toHaveLength(6);
    const md = renderMarkdown(report);
    expect(md).toContain(`| a | ${(100 * a.f).toFixed(2)} |`);
  });
});

describe("evaluateCompare", () => {
  it("gives win/tie/loss of A against each baseline by ROUGE-L", async () => {
    const A = [pred("ours", "1", "低盐低脂饮食，适量运动。"), pred("ours", "2", "多休息。"), pred("ours", "3", "规律作息。")];
    const B = [pred("base", "1", "低盐。"), pred("base", "2", "多休息，多饮水，必要时对症治疗。"), pred("base", "3", "规律作息。")];
    const { report } = await evaluateCompare(refs, A, B, { seed: 1 });
    expect(report.comparisons).toHaveLength(1);
    expect(report.comparisons[0]!.result.formatted).toBe("33.3/33.3/33.3");
    const html = renderHtml(report);
    expect(html).toContain("<svg");
    expect(html).toMatch(/class="win" x="220.0" y="46" width="140\.0"/);
    expect(renderMarkdown(report)).toContain("| Model | vs | Win/Tie/Loss (%) |");
    expect(renderMarkdown(report)).toContain("| ours | base | 33.3/33.3/33.3 |");
    // The paper's cells.
    const paper = renderMarkdown(report, { cells: { digits: 3 } });
    expect(paper).toContain("| Model | vs | Win/Tie/Loss |");
    expect(paper).toContain("| ours | base | 0.333/0.333/0.333 |");
  });

  it("does not turn float noise into wins: equal ROUGE-L F from different lengths tie", async () => {
    // Reference 甲乙. A: L=1 of 4 characters; B: L=2 of 10. Both F = 2L/(m+n) = 1/3, but the P/R formula gives
    // 0.3333333333333333 and 0.33333333333333337.
    const r3 = [qa("x", "q", "甲乙")];
    const a = pred("a", "x", "甲丙丁戊");
    const b = pred("b", "x", "甲乙丙丁戊己庚辛壬癸");
    expect(rougeL(a.output, "甲乙").f).not.toBe(rougeL(b.output, "甲乙").f);
    const { report } = await evaluateCompare(r3, [a], [b]);
    expect([report.comparisons[0]!.result.win, report.comparisons[0]!.result.tie]).toEqual([0, 1]);
  });

  it("leaves out references that neither system answered (a sampled run), and scores one-sided misses as 0", async () => {
    const many = Array.from({ length: 50 }, (_, i) => qa(`q${i}`, `问题${i}`, `回答${i}，注意休息。`));
    const A = [pred("ours", "q0", "回答0，注意休息。"), pred("ours", "q1", "不知道"), pred("ours", "q2", "回答2")];
    const B = [pred("base", "q0", "不知道"), pred("base", "q1", "回答1，注意休息。")];
    const { report, items } = await evaluateCompare(many, A, B);
    const c = report.comparisons[0]!;
    expect([c.result.win, c.result.tie, c.result.loss]).toEqual([2, 0, 1]); // q2: B never answered, so A wins it
    expect(c.unanswered).toBe(47);
    expect(items.map((i) => i.id)).toEqual(["q0", "q1", "q2"]);
  });

  it("needs judge options for the judge metric", async () => {
    await expect(evaluateCompare(refs, [pred("a", "1", "x")], [pred("b", "1", "y")], { metric: "judge" })).rejects.toThrow(/judge options/);
  });
});

describe("evaluateChoices and the reports", () => {
  it("scores each model, renders per-subject tables and charts", () => {
    const q = (id: string, subject: string, answer: string[]) =>
      ({ id, subject, source: "cmexam", question: "?", options: { A: "甲", B: "乙", C: "丙", D: "丁" }, answer: answer as ChoiceQuestion["answer"] }) satisfies ChoiceQuestion;
    const questions = [q("1", "内科", ["A"]), q("2", "外科", ["B"])];
    const { report } = evaluateChoices(questions, [pred("m1", "1", "答案：A"), pred("m1", "2", "答案：C"), pred("m2", "1", "不知道"), pred("m2", "2", "B")]);
    expect(report.systems.map((s) => [s.model, s.accuracy, s.abstentionRate])).toEqual([
      ["m1", 0.5, 0],
      ["m2", 0.5, 0.5],
    ]);
    const md = renderMarkdown(report);
    expect(md).toContain("| m1 | 50.0 | 50.0 | 100.0 | 0.0 | 0.0 | 2 |");
    const html = renderHtml(report, { title: "MC <test>" });
    expect(html).toContain("Accuracy by subject");
    expect(html).toContain("MC &lt;test&gt;");
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it("renders multi-turn prompts as a dialogue for the judge", () => {
    expect(
      questionText({ id: "x", prompt: [{ role: "user", content: "头痛" }, { role: "assistant", content: "多久了？" }, { role: "user", content: "三天" }], reference: "" }),
    ).toBe("患者：头痛\n医生：多久了？\n患者：三天");
  });
});

describe("renderMarkdown judge table", () => {
  it("prints – instead of NaN for a system whose every judgment failed", () => {
    const md = renderMarkdown({
      kind: "judge",
      judge: "j",
      rubric: "cmb-clin",
      systems: [
        { model: "ok", mean: 3.5, dimensions: { a: 3, b: 4 }, failed: 0, n: 2 },
        { model: "all-failed", mean: NaN, dimensions: {}, failed: 2, n: 2 },
      ],
    });
    expect(md).not.toContain("NaN");
    expect(md).toContain("| all-failed | – | – | – | 2 | 2 |");
  });
});
