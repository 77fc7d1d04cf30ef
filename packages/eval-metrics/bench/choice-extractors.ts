/**
 * Accuracy of extractChoice and of published extractors on test/fixtures/choice-answers.jsonl (free-text answers
 * to CMExam/CMMLU questions, labelled with the letters each answer commits to; [] = commits to none).
 *
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/choice-extractors.ts [--heldout]
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/choice-extractors.ts --explanations
 *
 * `--explanations` reads instead the exam's own explanations (CMExam val, first 3,000 rows, from ../shared/data)
 * as if they were answers: real human text that mentions letters ("（A错）") but often commits to nothing.
 * It reports right / abstained / wrong letters per extractor: the wrong column measures guessing.
 *
 * An item counts as right when the extracted letter set equals the label exactly.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseCsvSync } from "csv-parse/sync";
import { sharedDataDir } from "@sfmed/test-utils";
import { fileURLToPath } from "node:url";
import { extractChoice } from "../src/choice-extract.js";
import { publicExtractors, type Extractor } from "./public-extractors.js";

/** CSV text → rows of cells (csv-parse, the parser @sfmed/schema reads CSV with). */
const parseCsv = (text: string): string[][] => parseCsvSync(text, { relax_column_count: true, relax_quotes: true }) as string[][];

interface Item {
  id: string;
  category: string;
  lang: string;
  question: { options: Record<string, string>; answer: string[] };
  response: string;
  gold: string[];
}

const heldout = process.argv.includes("--heldout");
const ours: Extractor = (text, options, multiple) => extractChoice(text, options, { multiple });
const rows: [string, Extractor][] = [["**@sfmed/eval-metrics extractChoice**", ours], ...publicExtractors];

if (process.argv.includes("--explanations")) {
  const data = sharedDataDir();
  if (!data) throw new Error("--explanations needs ../shared/data");
  const csv = parseCsv(readFileSync(join(data, "cmexam/val.from_xlsx.csv"), "utf8")).slice(1, 3001);
  const qs = csv
    .map((r) => {
      const options: Record<string, string> = {};
      for (const line of (r[1] ?? "").split(/\\n|\n/)) {
        const m = line.match(/^([A-J])\s+(.*)$/);
        if (m) options[m[1]!] = m[2]!.trim();
      }
      return { options, gold: (r[2] ?? "").split("").sort().join(""), text: r[3] ?? "" };
    })
    .filter((q) => q.text.length >= 10 && q.gold);
  console.log(`${qs.length} CMExam explanations read as answers\n`);
  console.log("| extractor | right | abstained | wrong letter |");
  console.log("|---|---|---|---|");
  for (const [name, ex] of rows) {
    let right = 0;
    let none = 0;
    for (const q of qs) {
      const got = ex(q.text, q.options, q.gold.length > 1).join("");
      if (got === q.gold) right++;
      else if (!got) none++;
    }
    const pc = (x: number) => ((100 * x) / qs.length).toFixed(1);
    console.log(`| ${name} | ${pc(right)} | ${pc(none)} | ${pc(qs.length - right - none)} |`);
  }
  process.exit(0);
}
const file = fileURLToPath(new URL(`../test/fixtures/${heldout ? "choice-answers-heldout" : "choice-answers"}.jsonl`, import.meta.url));
const items = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Item);
const categories = [...new Set(items.map((i) => i.category))];

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
