import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { TextDocSchema } from "../records.js";
import { toTextDoc } from "./registry.js";

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
