import type { ChatModel, ChatOptions } from "@sfmed/llm";
import type { Message } from "@sfmed/schema";
import { describe, expect, it } from "vitest";
import { cmbClinRubric, type JudgeRubric } from "./judge-rubric.js";
import { compareByJudge, judgeAnswer, judgeAnswers, JudgeParseError } from "./judge-score.js";

/** A fake judge: answers from a script keyed by the graded answer text, and records every call. */
function fakeJudge(reply: (answer: string, turn: number) => string) {
  const calls: { messages: Message[]; options?: ChatOptions }[] = [];
  const model: ChatModel = {
    name: "fake-judge",
    async chat(messages, options) {
      calls.push({ messages: structuredClone(messages), ...(options ? { options } : {}) });
      const prompt = messages[1]!.content;
      const answer = prompt.match(/\[The Start of Assistant's Answer\]\n([\s\S]*?)\n\[The End/)?.[1] ?? prompt.match(/\[Answer\]\n([\s\S]*?)\n\n/)?.[1] ?? "";
      const turn = messages.filter((m) => m.role === "user").length - 1;
      return { texts: [reply(answer, turn)], finishReasons: ["stop"], usage: { promptTokens: 1, completionTokens: 1 }, cached: false };
    },
  };
  return { model, calls };
}

const item = { id: "q1", question: "高血压患者饮食应注意什么？", reference: "低盐低脂饮食，适量运动。", answer: "应低盐饮食。" };

describe("judgeAnswer", () => {
  it("puts question, reference and answer in the prompt, at temperature 0, and reads the score", async () => {
    const { model, calls } = fakeJudge(() => "Mostly right. Rating: [[7]]");
    const j = await judgeAnswer(item, { model });
    expect(j).toMatchObject({ id: "q1", score: 7, scores: { overall: 7 } });
    const prompt = calls[0]!.messages[1]!.content;
    for (const s of [item.question, item.reference, item.answer]) expect(prompt).toContain(s);
    expect(calls[0]!.options).toEqual({ temperature: 0 });
  });

  it("retries with a format reminder and succeeds on a later attempt", async () => {
    const { model, calls } = fakeJudge((_a, turn) => (turn === 0 ? "A fine answer." : "[[6]]"));
    const j = await judgeAnswer(item, { model });
    expect(j.score).toBe(6);
    expect(j.outputs).toEqual(["A fine answer.", "[[6]]"]);
    expect(calls[1]!.messages.at(-1)!.content).toMatch(/\[\[rating\]\]/);
  });

  it("throws JudgeParseError after the retries, never a default score", async () => {
    const { model, calls } = fakeJudge(() => "no score");
    await expect(judgeAnswer(item, { model, retries: 1 })).rejects.toBeInstanceOf(JudgeParseError);
    expect(calls).toHaveLength(2);
  });

  it("averages the dimensions of a multi-dimension rubric", async () => {
    const { model } = fakeJudge(() => "{“fluency”: 4, “relevance”: 5, “completeness”: 3, “proficiency”: 4}");
    const j = await judgeAnswer(item, { model, rubric: cmbClinRubric() });
    expect(j.score).toBe(4);
  });
});

describe("custom rubrics", () => {
  it("grades on any dimensions with its own prompt and range (DISC-MedLLM style 1–5 lines)", async () => {
    const rubric: JudgeRubric = {
      name: "disc-1-5",
      dimensions: ["Proactivity", "Accuracy", "Helpfulness", "Linguistic Quality"].map((k) => ({ key: k.toLowerCase().replace(" ", "_"), aliases: [k] })),
      min: 1,
      max: 5,
      buildMessages: ({ question, reference, answer }) => [
        { role: "system", content: "judge" },
        { role: "user", content: `Q: ${question}\nRef: ${reference}\n[Answer]\n${answer}\n\nOnly provide the scores.` },
      ],
      repairPrompt: "Scores only, one per line.",
    };
    const { model } = fakeJudge(() => "Proactivity: 4\nAccuracy: 5\nHelpfulness: 5\nLinguistic Quality: 5");
    const j = await judgeAnswer(item, { model, rubric });
    expect(j.scores).toEqual({ proactivity: 4, accuracy: 5, helpfulness: 5, linguistic_quality: 5 });
    expect(j.score).toBe(4.75);
  });
});

describe("judgeAnswers and compareByJudge", () => {
  it("records unparsable items as failures and keeps going", async () => {
    const { model } = fakeJudge((a) => (a === "bad" ? "???" : "[[5]]"));
    const rs = await judgeAnswers(
      [
        { ...item, id: "1" },
        { ...item, id: "2", answer: "bad" },
      ],
      { model, retries: 0, concurrency: 2 },
    );
    expect(rs.map((r) => r.ok)).toEqual([true, false]);
  });

  it("grades both systems separately and reports win/tie/loss for A", async () => {
    // The fake judge scores by answer length: a deterministic stand-in for quality.
    const { model } = fakeJudge((a) => `[[${Math.min(10, a.length)}]]`);
    const items = [
      { id: "1", question: "q", reference: "r", answerA: "aaaaaaa", answerB: "bb" },
      { id: "2", question: "q", reference: "r", answerA: "aaa", answerB: "bbb" },
      { id: "3", question: "q", reference: "r", answerA: "a", answerB: "bbbbb" },
      { id: "4", question: "q", reference: "r", answerA: "aaaaaa", answerB: "???" },
    ];
    const progress: number[] = [];
    const r = await compareByJudge(items, { model, onProgress: (d) => progress.push(d) });
    expect([r.winTieLoss.win, r.winTieLoss.tie, r.winTieLoss.loss]).toEqual([2, 1, 1]);
    expect(r.winTieLoss.formatted).toBe("50.0/25.0/25.0");
    expect(progress.at(-1)).toBe(8);
  });
});
