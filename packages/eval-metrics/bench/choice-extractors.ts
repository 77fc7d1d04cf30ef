/**
 * Accuracy of extractChoice and of published extractors on test/fixtures/choice-answers.jsonl (free-text answers
 * to CMExam/CMMLU questions, labelled with the letters each answer commits to; [] = commits to none).
 *
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/choice-extractors.ts [--heldout]
 *
 * An item counts as right when the extracted letter set equals the label exactly.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { extractChoice } from "../src/choice-extract.js";
import { publicExtractors, type Extractor } from "./public-extractors.js";

interface Item {
  id: string;
  category: string;
  lang: string;
  question: { options: Record<string, string>; answer: string[] };
  response: string;
  gold: string[];
}

const heldout = process.argv.includes("--heldout");
const file = fileURLToPath(new URL(`../test/fixtures/${heldout ? "choice-answers-heldout" : "choice-answers"}.jsonl`, import.meta.url));
const items = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Item);
const categories = [...new Set(items.map((i) => i.category))];

const ours: Extractor = (text, options, multiple) => extractChoice(text, options, { multiple });
const rows: [string, Extractor][] = [["**@sfmed/eval-metrics extractChoice**", ours], ...publicExtractors];

const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(1) : "–");
const header = ["extractor", "all", ...categories.map((c) => `${c} (${items.filter((i) => i.category === c).length})`)];
console.log(`${items.length} items (${file.split("/").pop()})\n`);
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
const misses: string[] = [];
for (const [name, ex] of rows) {
  const ok = items.map((it) => {
    const got = ex(it.response, it.question.options, it.question.answer.length > 1);
    const right = got.join("") === it.gold.join("");
    if (!right && ex === ours) misses.push(`${it.id} [${it.category}] gold=${it.gold.join("") || "∅"} got=${got.join("") || "∅"} ${JSON.stringify(it.response.slice(0, 120))}`);
    return right;
  });
  const cells = categories.map((c) => {
    const idx = items.map((it, i) => (it.category === c ? i : -1)).filter((i) => i >= 0);
    return pct(idx.filter((i) => ok[i]).length, idx.length);
  });
  console.log(`| ${name} | ${pct(ok.filter(Boolean).length, items.length)} | ${cells.join(" | ")} |`);
}
if (misses.length) console.log(`\nextractChoice misses:\n${misses.join("\n")}`);
