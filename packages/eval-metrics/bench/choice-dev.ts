/**
 * Per-class accuracy of extractChoice and the published extractors on fixtures/choice-dev.jsonl.
 *
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/choice-dev.ts [--misses]
 *
 * Classes: what the answer relies on (letter / content / none), the stem (positive / negated) and the question
 * type (single / multiple). An item is right when the extracted letter set equals the label exactly; for
 * `none` items that means abstaining. `wrong pick` counts letters chosen where the label is another set or none.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { extractChoice } from "../src/choice-extract.js";
import { publicExtractors, type Extractor } from "./public-extractors.js";
import type { DevItem } from "./build-choice-dev.js";

const file = fileURLToPath(new URL("../fixtures/choice-dev.jsonl", import.meta.url));
const items = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as DevItem);

const withStem: Extractor = (text, options, multiple) => extractChoice(text, options, { multiple });
const rows: [string, (it: DevItem) => string[]][] = [
  ["**extractChoice (with stem)**", (it) => extractChoice(it.response, it.options, { multiple: it.multiple, question: it.question })],
  ["extractChoice (no stem)", (it) => withStem(it.response, it.options, it.multiple)],
  ...publicExtractors.map(([name, ex]) => [name, (it: DevItem) => ex(it.response, it.options, it.multiple)] as [string, (it: DevItem) => string[]]),
];

const groups: [string, (i: DevItem) => boolean][] = [
  ["letter", (i) => i.cls === "letter"],
  ["content", (i) => i.cls === "content"],
  ["none", (i) => i.cls === "none"],
  ["positive", (i) => i.polarity === "positive"],
  ["negated", (i) => i.polarity === "negated"],
  ["single", (i) => !i.multiple],
  ["multiple", (i) => i.multiple],
];
const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(1) : "–");
const header = ["extractor", `all (${items.length})`, ...groups.map(([g, f]) => `${g} (${items.filter(f).length})`), "wrong pick"];
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
const misses: string[] = [];
rows.forEach(([name, ex], r) => {
  let wrongPick = 0;
  const ok = items.map((it) => {
    const got = ex(it);
    const right = got.join("") === it.gold.join("");
    if (!right && got.length) wrongPick++;
    if (!right && r === 0) misses.push(`${it.id} [${it.cls}/${it.polarity}/${it.multiple ? "multi" : "single"}/${it.style}] gold=${it.gold.join("") || "∅"} got=${got.join("") || "∅"} ${JSON.stringify(it.response.slice(-140))}`);
    return right;
  });
  const cells = groups.map(([, f]) => {
    const idx = items.map((it, i) => (f(it) ? i : -1)).filter((i) => i >= 0);
    return pct(idx.filter((i) => ok[i]).length, idx.length);
  });
  console.log(`| ${name} | ${pct(ok.filter(Boolean).length, items.length)} | ${cells.join(" | ")} | ${wrongPick} |`);
});
if (process.argv.includes("--misses") && misses.length) console.log(`\nmisses:\n${misses.join("\n")}`);
