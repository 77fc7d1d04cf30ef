import type { ChoiceQuestion, Prediction } from "@sfmed/schema";
import { describe, expect, it } from "vitest";
import { scoreChoices } from "./choice-score.js";
import { EvalInputError } from "./errors.js";

const q = (id: string, answer: string[], subject: string, source = "cmexam"): ChoiceQuestion => ({
  id,
  subject,
  source,
  question: "下列哪项正确",
  options: { A: "原发病", B: "出血部位", C: "出血量", D: "在胃内停留时间", E: "以上均非" },
  answer: answer as ChoiceQuestion["answer"],
});
const p = (id: string, output: string): Prediction => ({ id, model: "m", output });

describe("scoreChoices", () => {
  const questions = [q("1", ["C"], "内科"), q("2", ["B", "D"], "内科"), q("3", ["A"], "外科", "cmmlu"), q("4", ["E"], "外科", "cmmlu")];

  it("scores accuracy overall, per subject and per source, with abstentions", () => {
    const r = scoreChoices(questions, [p("1", "答案是C"), p("2", "答案：B、D"), p("3", "我不确定"), p("9", "A")]);
    expect([r.n, r.correct, r.abstained, r.missing, r.unmatched]).toEqual([4, 2, 2, 1, 1]);
    expect(r.accuracy).toBe(0.5);
    expect(r.abstentionRate).toBe(0.5);
    expect(r.bySubject["内科"]).toMatchObject({ n: 2, correct: 2, accuracy: 1 });
    expect(r.bySource["cmmlu"]).toMatchObject({ n: 2, correct: 0, abstained: 2, abstentionRate: 1 });
    expect(r.items[3]!.rule).toBe("missing");
  });

  it("requires the exact set on multi-answer questions", () => {
    const r = scoreChoices([questions[1]!], [p("2", "答案：B")]);
    expect(r.items[0]).toMatchObject({ predicted: ["B"], correct: false, abstained: false });
  });

  it("rejects mixed models and repeated ids", () => {
    expect(() => scoreChoices(questions, [p("1", "A"), { id: "2", model: "other", output: "B" }])).toThrow(EvalInputError);
    expect(() => scoreChoices(questions, [p("1", "A"), p("1", "B")])).toThrow(/twice/);
  });
});
