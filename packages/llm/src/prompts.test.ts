import { fc, test } from "@fast-check/vitest";
import type { Message } from "@sfmed/schema";
import { describe, expect, it } from "vitest";
import { choicePrompt, promptOfRecord, sampleAnswers } from "./prompts.js";
import type { ChatModel, ChatOptions } from "./types.js";

const at = { file: "in.jsonl", line: 7 };

describe("promptOfRecord", () => {
  it("a ChoiceQuestion asks the stem with one line per option and the answer cue", () => {
    const q = { id: "q1", question: "高血压首选检查是？", options: { A: "血常规", B: "动态血压监测" }, answer: "B" };
    expect(promptOfRecord(q, at)).toEqual([{ role: "user", content: "高血压首选检查是？\nA. 血常规\nB. 动态血压监测\n答案：" }]);
    expect(choicePrompt("问", { A: "甲" })).toBe("问\nA. 甲\n答案：");
  });

  it("takes `prompt` messages as they are", () => {
    const prompt: Message[] = [
      { role: "system", content: "你是医生" },
      { role: "user", content: "头痛怎么办？" },
    ];
    expect(promptOfRecord({ id: "p", prompt, chosen: "a", rejected: "b" }, at)).toBe(prompt);
  });

  it("drops a Dialogue's last answer, and keeps a dialogue that ends on the user", () => {
    const user = { role: "user", content: "发烧三天" } as const;
    const answer = { role: "assistant", content: "请测体温" } as const;
    expect(promptOfRecord({ messages: [user, answer] }, at)).toEqual([user]);
    expect(promptOfRecord({ messages: [user] }, at)).toEqual([user]);
  });

  it("falls back to a bare question", () => {
    expect(promptOfRecord({ question: "什么是糖尿病？", reference: "…" }, at)).toEqual([{ role: "user", content: "什么是糖尿病？" }]);
  });

  it("names file, line and field when a record has no prompt", () => {
    for (const bad of [{ id: "x", text: "只有正文" }, { messages: [{ role: "assistant", content: "答" }] }, null]) {
      expect(() => promptOfRecord(bad, at)).toThrow(expect.objectContaining({ name: "ValidationError", file: "in.jsonl", line: 7, field: "prompt" }));
    }
  });

  test.prop([fc.string({ minLength: 1 }), fc.dictionary(fc.constantFrom("A", "B", "C", "D", "E"), fc.string(), { minKeys: 1 })])(
    "every option appears on its own line, in order, before the answer cue",
    (question, options) => {
      const lines = choicePrompt(question, options).split("\n");
      expect(lines.at(-1)).toBe("答案：");
      const optionLines = lines.slice(-1 - Object.keys(options).length, -1);
      expect(optionLines).toEqual(Object.entries(options).map(([k, v]) => `${k}. ${v}`));
    },
  );
});

describe("sampleAnswers", () => {
  function recording(): ChatModel & { seeds: Array<number | undefined> } {
    const seeds: Array<number | undefined> = [];
    return {
      name: "m",
      seeds,
      async chat(_m: Message[], o?: ChatOptions) {
        seeds.push(o?.seed);
        return { texts: [`answer ${o?.seed}`, "ignored second choice"], finishReasons: ["stop"], usage: { promptTokens: 1, completionTokens: 1 }, cached: false };
      },
    };
  }

  it("makes n single-answer calls with consecutive seeds", async () => {
    const m = recording();
    expect(await sampleAnswers(m, [{ role: "user", content: "hi" }], 3, { seed: 10, temperature: 0.7 })).toEqual(["answer 10", "answer 11", "answer 12"]);
    expect(m.seeds).toEqual([10, 11, 12]);
  });

  it("refuses a count that is not a positive integer", async () => {
    await expect(sampleAnswers(recording(), [], 0, { seed: 0 })).rejects.toThrow(RangeError);
  });
});
