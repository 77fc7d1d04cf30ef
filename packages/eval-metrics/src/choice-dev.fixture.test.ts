import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { extractChoice } from "./choice-extract.js";

interface DevItem {
  id: string;
  cls: "letter" | "content" | "none";
  polarity: "positive" | "negated";
  multiple: boolean;
  style: string;
  question: string;
  options: Record<string, string>;
  response: string;
  gold: string[];
}

const items = readFileSync(fileURLToPath(new URL("../fixtures/choice-dev.jsonl", import.meta.url)), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as DevItem);
const run = (it: DevItem, response = it.response, options = it.options) => extractChoice(response, options, { multiple: it.multiple, question: it.question });
const results = items.map((it) => ({ it, got: run(it).join("") }));
const report = (rs: typeof results) =>
  rs
    .filter((r) => r.got !== r.it.gold.join(""))
    .map((r) => `${r.it.id} [${r.it.style}] got ${r.got || "∅"}, label ${r.it.gold.join("") || "∅"}: ${r.it.response.slice(-80)}`)
    .join("\n");
const accuracy = (rs: typeof results) => rs.filter((r) => r.got === r.it.gold.join("")).length / rs.length;

describe("extractChoice on fixtures/choice-dev.jsonl", () => {
  it("covers letter/content/none answers to positive and negated, single and multiple questions", () => {
    expect(items.length).toBeGreaterThanOrEqual(600);
    for (const cls of ["letter", "content", "none"]) expect(items.filter((i) => i.cls === cls).length).toBeGreaterThanOrEqual(100);
    expect(items.filter((i) => i.polarity === "negated").length).toBeGreaterThanOrEqual(100);
    expect(items.filter((i) => i.multiple).length).toBeGreaterThanOrEqual(50);
  });

  it("reads at least 97% of all answers and 99% of those that name a letter", () => {
    expect(accuracy(results), report(results)).toBeGreaterThanOrEqual(0.97);
    const letter = results.filter((r) => r.it.cls === "letter");
    expect(accuracy(letter), report(letter)).toBeGreaterThanOrEqual(0.99);
  });

  it("reads negated questions: the option declared wrong is the choice", () => {
    const neg = results.filter((r) => r.it.polarity === "negated" && r.it.cls !== "none");
    expect(accuracy(neg), report(neg)).toBeGreaterThanOrEqual(0.97);
  });

  it("never picks a letter for an answer that commits to none", () => {
    const none = results.filter((r) => r.it.gold.length === 0);
    expect(none.filter((r) => r.got !== ""), report(none)).toEqual([]);
  });

  it("never picks a wrong letter set anywhere (it abstains instead)", () => {
    const wrong = results.filter((r) => r.got !== "" && r.got !== r.it.gold.join(""));
    expect(wrong.length, report(wrong)).toBe(0);
  });
});

describe("extractChoice properties over the dev questions", () => {
  const questions = [...new Map(items.map((i) => [i.question, i])).values()];
  const restate = [
    (it: DevItem) => `题目问的是：${it.question}`,
    (it: DevItem) => `这道题问“${it.question}”，需要结合所学知识分析。`,
    (it: DevItem) => `${it.question}\n${Object.entries(it.options).map(([k, v]) => `${k}. ${v}`).join("\n")}`,
    (it: DevItem) => `问题：${it.question}（ ）。选项：${Object.entries(it.options).map(([k, v]) => `${k}、${v}`).join("；")}`,
    (it: DevItem) => `综上，本题问的是${it.question.slice(-20)}。`,
  ];
  test.prop([fc.constantFrom(...questions), fc.constantFrom(...restate)])("an answer that only restates the question never picks", (it, f) => {
    expect(run(it, f(it))).toEqual([]);
  });

  const contentItems = items.filter((i) => i.cls === "content" && i.gold.length > 0 && run(i).join("") === i.gold.join(""));
  test.prop([fc.constantFrom(...contentItems), fc.integer({ min: 0, max: 2 ** 31 - 1 })])("shuffling option order moves the pick with its content", (it, seed) => {
    const keys = Object.keys(it.options);
    const perm = fc.sample(fc.shuffledSubarray(keys, { minLength: keys.length, maxLength: keys.length }), { seed, numRuns: 1 })[0]!;
    const moved: Record<string, string> = {};
    const to = new Map<string, string>();
    keys.forEach((k, i) => {
      moved[perm[i]!] = it.options[k]!;
      to.set(k, perm[i]!);
    });
    const sorted = Object.fromEntries(Object.entries(moved).sort(([a], [b]) => a.localeCompare(b)));
    expect(run(it, it.response, sorted)).toEqual(it.gold.map((g) => to.get(g)!).sort());
  });

  test.prop([fc.constantFrom(...items), fc.constantFrom("以上分析仅供参考", "\n\n以上分析仅供参考。", "（以上分析仅供参考，请以教材为准）")])(
    "appending 「以上分析仅供参考」 changes nothing",
    (it, tail) => {
      expect(run(it, it.response + tail)).toEqual(run(it));
    },
  );

  // The same three rules over every item, not a sample: a regression anywhere in the fixture shows up here.
  it("holds for every dev item and question (exhaustive)", () => {
    const broken: string[] = [];
    for (const it of questions) for (const f of restate) if (run(it, f(it)).length) broken.push(`restated ${it.id}: ${f(it).slice(0, 40)}`);
    for (const it of items) {
      const base = run(it).join("");
      for (const tail of ["以上分析仅供参考", "\n\n以上分析仅供参考。", "（以上分析仅供参考，请以教材为准）"]) if (run(it, it.response + tail).join("") !== base) broken.push(`tail ${it.id}`);
    }
    expect(broken).toEqual([]);
  });
});

