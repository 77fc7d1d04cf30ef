import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { ReferenceQASchema, TextDocSchema } from "../records.js";
import { toReferenceQA, toTextDoc } from "./registry.js";

const content = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\n"));

describe("text exporter", () => {
  test.prop([fc.array(fc.tuple(content, content), { minLength: 1, maxLength: 5 })])("a dialogue's text is its contents, in order, one per line", (turns) => {
    const messages = turns.flatMap(([u, a]) => [
      { role: "user" as const, content: u },
      { role: "assistant" as const, content: a },
    ]);
    const doc = toTextDoc({ id: "d1", source: "s", messages }, "dialogue");
    expect(TextDocSchema.parse(doc)).toEqual(doc);
    expect(doc.text.split("\n")).toEqual(messages.map((m) => m.content));
    expect(doc.source).toBe("s");
  });

  it("keeps a pair's prompt and chosen answer, never the rejected one", () => {
    const doc = toTextDoc({ id: "p", prompt: [{ role: "user", content: "头痛" }], chosen: "休息", rejected: "不管" }, "pair");
    expect(doc).toEqual({ id: "p", text: "头痛\n休息" });
  });

  it("rejects an invalid record naming the field", () => {
    expect(() => toTextDoc({ id: "x", messages: [{ role: "user", content: "a" }] }, "dialogue")).toThrow(/messages/);
  });
});

describe("qa exporter (evaluation sets from dialogues)", () => {
  test.prop([fc.array(fc.tuple(content, content), { minLength: 1, maxLength: 5 })])(
    "the last answer is the reference and everything before it the prompt",
    (turns) => {
      const messages = turns.flatMap(([u, a]) => [
        { role: "user" as const, content: u },
        { role: "assistant" as const, content: a },
      ]);
      const qa = toReferenceQA({ id: "d1", source: "cmtmedqa", messages }, "dialogue");
      expect(ReferenceQASchema.parse(qa)).toEqual(qa);
      expect(qa.reference).toBe(turns[turns.length - 1]![1]);
      expect([...qa.prompt, { role: "assistant", content: qa.reference }]).toEqual(messages);
      expect(qa.source).toBe("cmtmedqa");
    },
  );

  it("refuses a dialogue that does not end with an answer, naming the record", () => {
    expect(() => toReferenceQA({ id: "x1", messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }, { role: "user", content: "c" }] }, "dialogue")).toThrow(
      /record x1: .*ends with an assistant turn/,
    );
  });
});
