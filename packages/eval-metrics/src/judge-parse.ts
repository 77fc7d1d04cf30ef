import type { JudgeRubric } from "./judge-rubric.js";
import { stripThinking } from "./strip-thinking.js";

const NUM = String.raw`([+-]?\d+(?:\.\d+)?)`;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Objects in the text, parsed leniently: curly or single quotes around keys/strings, trailing commas. */
function looseJsonObjects(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const m of text.matchAll(/\{[^{}]*\}/g)) {
    const fixed = m[0]
      .replace(/[“”„‟″]/g, '"')
      .replace(/[‘’‚‛′]/g, "'")
      .replace(/'([^'"\n]*)'/g, '"$1"')
      .replace(/([{,]\s*)([A-Za-z_\u4e00-\u9fff][\w\u4e00-\u9fff ]*?)\s*:/g, (all, pre: string, key: string) => (key.startsWith('"') ? all : `${pre}"${key}":`))
      .replace(/：/g, ":")
      .replace(/，/g, ",")
      .replace(/,\s*}/g, "}");
    try {
      const v = JSON.parse(fixed) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      /* not JSON even leniently: other rules may still read it */
    }
  }
  return out;
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string") {
    const m = v.match(/^\s*([+-]?\d+(?:\.\d+)?)/);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * Read the scores of one judgment. Accepts `[[8]]` (the last one wins: judges sometimes echo the format example
 * first), loose JSON (`{‘fluency’: 3, …}` with curly quotes), `Name: x` / `评分：8分` / `Score: 8/10` lines, and
 * MT-Bench's backup `[8]` for single-score rubrics. Returns undefined when any dimension is missing or a score
 * falls outside the rubric's range — never a default.
 */
export function parseJudgment(text: string, rubric: Pick<JudgeRubric, "dimensions" | "min" | "max">): Record<string, number> | undefined {
  const body = stripThinking(text).normalize("NFKC");
  const scores: Record<string, number> = {};
  const names = (d: JudgeRubric["dimensions"][number]) => [d.key, ...(d.aliases ?? [])];
  const inRange = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x) && x >= rubric.min && x <= rubric.max;

  // 1. JSON objects (last object that has the key wins).
  const objects = looseJsonObjects(body);
  for (const d of rubric.dimensions) {
    const wanted = names(d).map((n) => n.toLowerCase());
    for (const o of objects) {
      for (const [k, v] of Object.entries(o)) if (wanted.includes(k.trim().toLowerCase()) && toNumber(v) !== undefined) scores[d.key] = toNumber(v)!;
    }
  }
  // 2. Single score: [[x]].
  if (rubric.dimensions.length === 1 && scores[rubric.dimensions[0]!.key] === undefined) {
    const all = [...body.matchAll(new RegExp(String.raw`\[\[\s*${NUM}\s*(?:/\s*\d+)?\s*\]\]`, "g"))];
    if (all.length) scores[rubric.dimensions[0]!.key] = Number(all.at(-1)![1]);
  }
  // 3. "Name: x" lines.
  for (const d of rubric.dimensions) {
    if (scores[d.key] !== undefined) continue;
    const alt = names(d).map(escapeRe).join("|");
    const all = [...body.matchAll(new RegExp(String.raw`(?:${alt})\s*["'*]*\s*(?:[:=]|为|是)\s*\**\s*\[*\s*${NUM}`, "gi"))];
    if (all.length) scores[d.key] = Number(all.at(-1)![1]);
  }
  // 4. MT-Bench backup: a single "[x]".
  if (rubric.dimensions.length === 1 && scores[rubric.dimensions[0]!.key] === undefined) {
    const all = [...body.matchAll(new RegExp(String.raw`\[\s*${NUM}\s*\]`, "g"))];
    if (all.length) scores[rubric.dimensions[0]!.key] = Number(all.at(-1)![1]);
  }
  for (const d of rubric.dimensions) if (!inRange(scores[d.key])) return undefined;
  return scores;
}
