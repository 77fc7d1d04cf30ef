import type { ChatModel } from "@sfmed/llm";
import type { ChoiceQuestion, Prediction } from "@sfmed/schema";
import { describe, expect, it } from "vitest";
import { choiceJudgeMessages, decideChoices, decisionLookup, parseChoiceJudgment } from "./choice-llm.js";
import { scoreChoices } from "./choice-score.js";

const options = { A: "益气养阴", B: "活血化瘀", C: "清热利湿", D: "疏肝理气" };
const questions: ChoiceQuestion[] = [
  { id: "q1", question: "其治法是", options, answer: ["B"] },
  { id: "q2", question: "其治法是", options, answer: ["A"] },
  { id: "q3", question: "其治法是", options, answer: ["C"] },
];
const preds: Prediction[] = [
  { id: "q1", model: "m", output: "综上，答案是B。" },
  { id: "q2", output: "这题我倾向于那个补益的方法。", model: "m" },
  { id: "q3", output: "这题我倾向于那个补益的方法。", model: "m" },
];

/** A fake judge that answers from a script keyed by the answer text and counts calls. */
function fakeJudge(reply: (answer: string) => string) {
  const calls: string[] = [];
  const model: ChatModel = {
    name: "fake",
    async chat(messages) {
      const answer = messages[1]!.content.match(/<<<\n([\s\S]*?)\n>>>/)![1]!;
      calls.push(answer);
      return { texts: [reply(answer)], finishReasons: ["stop"], usage: { promptTokens: 1, completionTokens: 1 }, cached: false };
    },
  };
  return { model, calls };
}

describe("parseChoiceJudgment", () => {
  it("reads the last 答案 line, 无 as none, and rejects letters that are not options", () => {
    expect(parseChoiceJudgment("分析……\n答案：B", ["A", "B"])).toEqual(["B"]);
    expect(parseChoiceJudgment("答案：Ｄ、Ｂ", ["A", "B", "D"])).toEqual(["B", "D"]);
    expect(parseChoiceJudgment("答案：无", ["A", "B"])).toEqual([]);
    expect(parseChoiceJudgment("答案：F", ["A", "B"])).toBeUndefined();
    expect(parseChoiceJudgment("我觉得是B", ["A", "B"])).toBeUndefined();
  });
});

describe("decideChoices", () => {
  it("rules+llm asks the judge only where the rules abstain, and records which path decided", async () => {
    const { model, calls } = fakeJudge(() => "答案：A");
    const d = await decideChoices(questions, preds, { mode: "rules+llm", model });
    // q2 and q3 carry the same prompt text but different ids: one call per distinct prompt.
    expect(calls).toEqual(["这题我倾向于那个补益的方法。"]);
    expect(d.get("m")!.get("q1")).toEqual({ letters: ["B"], rule: "anchor", path: "rules" });
    expect(d.get("m")!.get("q2")).toEqual({ letters: ["A"], rule: "llm", path: "llm" });
    const s = scoreChoices(questions, preds, { decide: decisionLookup(d) });
    expect(s.items.map((i) => [i.id, i.predicted.join(""), i.rule])).toEqual([
      ["q1", "B", "anchor"],
      ["q2", "A", "llm"],
      ["q3", "A", "llm"],
    ]);
    expect(s.correct).toBe(2);
  });

  it("llm asks for every answer; unreadable or several letters on a single-answer question abstain", async () => {
    const { model, calls } = fakeJudge((a) => (a.startsWith("综上") ? "答案：BC" : "嗯"));
    const d = await decideChoices(questions, preds, { mode: "llm", model });
    expect(calls).toHaveLength(2);
    expect(d.get("m")!.get("q1")).toEqual({ letters: [], rule: "llm-unreadable", path: "llm" });
    expect(d.get("m")!.get("q2")!.rule).toBe("llm-unreadable");
  });

  it("rules never call a model, and llm modes demand one", async () => {
    const d = await decideChoices(questions, preds, { mode: "rules" });
    expect([...d.get("m")!.values()].map((x) => x.path)).toEqual(["rules", "rules", "rules"]);
    await expect(decideChoices(questions, preds, { mode: "llm" })).rejects.toThrow(/needs a judge model/);
  });

  it("puts the stem, the options, the question type and the answer in a fixed prompt", () => {
    const m = choiceJudgeMessages({ response: "选B", options, multiple: true, question: "其治法是" });
    expect(m[1]!.content).toContain("题目：其治法是");
    expect(m[1]!.content).toContain("B. 活血化瘀");
    expect(m[1]!.content).toContain("多选题");
    expect(m[1]!.content).toContain("<<<\n选B\n>>>");
  });
});
