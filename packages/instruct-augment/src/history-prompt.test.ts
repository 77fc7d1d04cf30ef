import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { DEFAULT_TEMPLATES, DEFAULT_TEMPLATES_EN, buildHistoryPrompt, type PromptLayout } from "./history-prompt.js";
import { sampleStep } from "./question-answer-banks.js";
import { SeededRandom } from "./seeded-random.js";

const sample = { questions: ["问一。", "问二。"], answers: ["答一。", "答二。"], query: "当前问题。" };

describe("buildHistoryPrompt", () => {
  it("Figure 2: {Q}{Prompt} user turns answered by one instruction each, then {Q}{Prompt}", () => {
    expect(buildHistoryPrompt(sample)).toEqual([
      { role: "user", content: "问一。\n现在你想根据以上指令，扩展出更多语义相近的指令：" },
      { role: "assistant", content: "答一。" },
      { role: "user", content: "问二。\n现在你想根据以上指令，扩展出更多语义相近的指令：" },
      { role: "assistant", content: "答二。" },
      { role: "user", content: "当前问题。\n现在你想根据以上指令，扩展出更多语义相近的指令：" },
    ]);
    const en = buildHistoryPrompt({ questions: ["Q1."], answers: ["A1."], query: "Q." }, { language: "en" });
    expect(en.map((m) => m.content)).toEqual([
      "Q1.\nNow you want to extend some more semantic instructions based on the above instructions:",
      "A1.",
      "Q.\nNow you want to extend some more semantic instructions based on the above instructions:",
    ]);
  });

  it("numbered: bare questions, then the request with {query} and {count}", () => {
    const msgs = buildHistoryPrompt(sample, { layout: "numbered", count: 7 });
    expect(msgs.slice(0, 4).map((m) => m.content)).toEqual(["问一。", "答一。", "问二。", "答二。"]);
    expect(msgs[4]!.content).toBe(DEFAULT_TEMPLATES.request.replace("{query}", "当前问题。").replace("{count}", "7"));
    expect(buildHistoryPrompt(sample, { layout: "numbered", language: "en" })[4]!.content).toContain("numbered list");
    expect(DEFAULT_TEMPLATES_EN.request).toContain("{count}");
  });

  it("takes partial templates over the language's defaults, and a system message first", () => {
    const msgs = buildHistoryPrompt(sample, { templates: { system: "你是指令生成器。", extendPrompt: "请扩展：", request: undefined } });
    expect(msgs[0]).toEqual({ role: "system", content: "你是指令生成器。" });
    expect(msgs[1]!.content).toBe("问一。\n请扩展：");
    expect(buildHistoryPrompt(sample, { layout: "numbered", templates: { extendPrompt: "x" } })[4]!.content).toContain("按编号");
  });

  const texts = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 20 });
  test.prop([texts, texts, fc.integer({ min: 0, max: 8 }), fc.integer(), fc.constantFrom<PromptLayout>("figure2", "numbered"), fc.constantFrom("zh" as const, "en" as const)])(
    "the history alternates user/assistant, has min(shots, Answer Bank, Question Bank − 1) turns and never repeats a question",
    (qs, as, shots, seed, layout, language) => {
      // The banks never share an instruction: every one is seen once, then returned to one bank.
      const answer = as.filter((a) => !qs.includes(a));
      fc.pre(qs.length > 0);
      const s = sampleStep({ question: qs, answer }, shots, SeededRandom.fromSeed(seed));
      const msgs = buildHistoryPrompt(s, { layout, language });
      const turns = Math.min(shots, answer.length, qs.length - 1);
      expect(msgs).toHaveLength(2 * turns + 1);
      msgs.forEach((m, i) => expect(m.role).toBe(i % 2 === 0 ? "user" : "assistant"));
      const suffix = layout === "figure2" ? `\n${(language === "en" ? DEFAULT_TEMPLATES_EN : DEFAULT_TEMPLATES).extendPrompt}` : "";
      const asked = msgs.slice(0, -1).filter((m) => m.role === "user").map((m) => {
        expect(m.content.endsWith(suffix)).toBe(true);
        return m.content.slice(0, m.content.length - suffix.length);
      });
      if (layout === "figure2") expect(msgs.at(-1)!.content).toBe(`${s.query}${suffix}`);
      else expect(msgs.at(-1)!.content.startsWith(s.query)).toBe(true);
      asked.push(s.query);
      expect(new Set(asked).size).toBe(asked.length);
      for (const q of asked) expect(qs).toContain(q);
      msgs.filter((m) => m.role === "assistant").forEach((m) => expect(answer).toContain(m.content));
    },
  );
  it("inserts a query holding replacement patterns ($`, $&, $') as written in the numbered layout", () => {
    for (const query of ["$`", "$&", "$'", "a$$b"]) {
      const msgs = buildHistoryPrompt({ query, questions: [], answers: [] }, { layout: "numbered" });
      expect(msgs.at(-1)!.content.startsWith(query)).toBe(true);
    }
  });
});
