import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { extractChoice } from "./choice-extract.js";

interface Item {
  id: string;
  category: string;
  question: { question: string; options: Record<string, string>; answer: string[] };
  response: string;
  gold: string[];
}

const load = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../test/fixtures/${name}`, import.meta.url)), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Item);

describe.each([
  ["choice-answers.jsonl", 400, false],
  ["choice-answers-heldout.jsonl", 150, false],
  ["choice-answers.jsonl", 400, true],
  ["choice-answers-heldout.jsonl", 150, true],
])("extractChoice on %s (with the stem: %s)", (name, minItems, withStem) => {
  const items = load(name);
  const results = items.map((it) => ({
    it,
    got: extractChoice(it.response, it.question.options, { multiple: it.question.answer.length > 1, ...(withStem ? { question: it.question.question } : {}) }),
  }));

  it("has enough items across categories", () => {
    expect(items.length).toBeGreaterThanOrEqual(minItems);
    expect(new Set(items.map((i) => i.category)).size).toBeGreaterThanOrEqual(8);
  });

  it("reads at least 98% of the answers exactly", () => {
    const wrong = results.filter((r) => r.got.join("") !== r.it.gold.join(""));
    const report = wrong.map((w) => `${w.it.id}: got ${w.got.join("") || "∅"}, label ${w.it.gold.join("") || "∅"}`).join("\n");
    expect(wrong.length, report).toBeLessThanOrEqual(Math.floor(items.length * 0.02));
  });

  it("never guesses on answers that commit to nothing", () => {
    for (const r of results.filter((x) => x.it.gold.length === 0)) expect(r.got).toEqual([]);
  });
});
