/**
 * Builds test/fixtures/choice-answers.jsonl: free-text answers to real exam questions (CMExam val, CMMLU
 * medical test rows) in the styles medical LLMs answer in, each labelled with the letters it commits to
 * (`[]` when it commits to none). Deterministic (seeded).
 *
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/build-choice-fixture.ts [--heldout]
 *
 * `--heldout` writes choice-answers-heldout.jsonl instead: phrasings written after the extractor was finished
 * and C-Eval questions, kept apart so the README can report accuracy on answers the rules were not tuned on.
 *
 * Reads data/samples (CMExam, CMMLU) and, for multi-answer CMExam questions, ../shared/data/cmexam when present.
 */
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { parse as parseCsvSync } from "csv-parse/sync";
import { repoRoot, sharedDataDir } from "@sfmed/test-utils";
import { seededRandom } from "@sfmed/schema";

interface Q {
  id: string;
  source: string;
  subject: string;
  question: string;
  options: Record<string, string>;
  answer: string[];
  explanation?: string;
}

export interface FixtureItem {
  id: string;
  category: string;
  lang: "zh" | "en";
  question: Q;
  response: string;
  gold: string[];
}

/** CSV text → rows of cells (csv-parse, the parser @sfmed/schema reads CSV with). */
const parseCsv = (text: string): string[][] => parseCsvSync(text, { relax_column_count: true, relax_quotes: true }) as string[][];

function cmexam(file: string, prefix: string): Q[] {
  const [head, ...rows] = parseCsv(readFileSync(file, "utf8"));
  const col = (n: string) => head!.indexOf(n);
  return rows
    .filter((r) => r.length >= 3 && r[col("Answer")])
    .map((r, i) => {
      const options: Record<string, string> = {};
      for (const line of r[col("Options")]!.split(/\\n|\n/)) {
        const m = line.match(/^([A-J])\s+(.*)$/);
        if (m) options[m[1]!] = m[2]!.trim();
      }
      return {
        id: `${prefix}-${i}`,
        source: "cmexam",
        subject: "医师考试",
        question: r[col("Question")]!,
        options,
        answer: r[col("Answer")]!.split("").sort(),
        explanation: r[col("Explanation")] ?? "",
      };
    })
    .filter((q) => Object.keys(q.options).length >= 4 && q.answer.every((a) => a in q.options));
}

function cmmlu(dir: string): Q[] {
  const out: Q[] = [];
  for (const f of readdirSync(dir).sort()) {
    const [, ...rows] = parseCsv(readFileSync(join(dir, f), "utf8"));
    for (const r of rows) {
      if (r.length < 7) continue;
      out.push({
        id: `cmmlu-${f.replace(".csv", "")}-${r[0]}`,
        source: "cmmlu",
        subject: f.replace(".csv", ""),
        question: r[1]!,
        options: { A: r[2]!, B: r[3]!, C: r[4]!, D: r[5]! },
        answer: [r[6]!],
      });
    }
  }
  return out;
}

function ceval(dir: string): Q[] {
  const out: Q[] = [];
  for (const f of readdirSync(dir).sort()) {
    const [, ...rows] = parseCsv(readFileSync(join(dir, f), "utf8"));
    for (const r of rows) {
      if (r.length < 7) continue;
      out.push({ id: `ceval-${f.replace("_val.csv", "")}-${r[0]}`, source: "ceval", subject: f.replace("_val.csv", ""), question: r[1]!, options: { A: r[2]!, B: r[3]!, C: r[4]!, D: r[5]! }, answer: [r[6]!] });
    }
  }
  return out;
}

/** --heldout: new phrasings and other questions (C-Eval val, later CMExam multi-answer rows), never tuned against. */
const HELDOUT = process.argv.includes("--heldout");
const root = repoRoot;
const single = [
  ...cmexam(join(root, "data/samples/cmexam/val.sample.csv"), "cmexam").filter((q) => q.answer.length === 1),
  ...cmmlu(join(root, "data/samples/cmmlu/test")),
];
const shared = sharedDataDir();
const multiFile = shared ? join(shared, "cmexam/val.from_xlsx.csv") : undefined;
const multi = (multiFile && existsSync(multiFile) ? cmexam(multiFile, "cmexam-val") : []).filter((q) => q.answer.length > 1).slice(0, 60);

const rand = seededRandom(HELDOUT ? 777 : 20260101);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const FW: Record<string, string> = { A: "Ａ", B: "Ｂ", C: "Ｃ", D: "Ｄ", E: "Ｅ" };

/** A short reason: the first sentences of the exam's own explanation, or a sentence built from option texts. */
function reason(q: Q, L: string): string {
  if (q.explanation && q.explanation.length > 10) {
    const cut = q.explanation.slice(0, 160);
    const end = Math.max(cut.lastIndexOf("。"), cut.lastIndexOf("；"));
    return end > 20 ? cut.slice(0, end + 1) : cut + "。";
  }
  const wrong = Object.keys(q.options).filter((k) => k !== L);
  const w = pick(wrong);
  return `${q.options[w]}与题干描述不符，而${q.options[L]}与题意相符。`;
}

type Template = (q: Q, L: string, T: string, W: string[], TW: string[]) => string | [string, string[]];

const zhAnswerFirst: Template[] = [
  (q, L) => L,
  (q, L, T) => `${L}. ${T}`,
  (q, L) => `答案：${L}`,
  (q, L) => `答案：${L}，解释：${reason(q, L)}`,
  (q, L) => `正确答案：${L}\n解析：${reason(q, L)}`,
  (q, L) => `【答案】${L}\n【解析】${reason(q, L)}`,
  (q, L, T) => `**答案：${L}. ${T}**\n\n**解析：**${reason(q, L)}`,
  (q, L) => `${L}。${reason(q, L)}`,
  (q, L) => `选${L}。${reason(q, L)}`,
  (q, L, T) => `答案是${L}（${T}）。\n\n分析：${reason(q, L)}`,
  (q, L, T) => `${L}（${T}）`,
  (q, L, T) => `正确答案是 ${L}：${T}。`,
];
const zhConclusionLast: Template[] = [
  (q, L) => `${reason(q, L)}\n所以答案是${L}。`,
  (q, L) => `让我们一步一步思考，\n${reason(q, L)}\n所以答案是${L}。`,
  (q, L) => `${reason(q, L)}综上所述，本题选${L}。`,
  (q, L) => `首先分析题干。${reason(q, L)}因此，正确答案为${L}。`,
  (q, L) => `${reason(q, L)}故选${L}。`,
  (q, L) => `${reason(q, L)}\n\n最终答案：${L}`,
  (q, L, T) => `${reason(q, L)}\n因此答案是：${L}. ${T}`,
  (q, L) => `${reason(q, L)}所以正确选项是${L}`,
  (q, L) => `${reason(q, L)}\n\n答案：**${L}**`,
  (q, L) => `${reason(q, L)}\n\n$\\boxed{${L}}$`,
  (q, L, T) => `这道题考查的是${q.subject}的知识。${reason(q, L)}\n\n综上，应选择${L}项「${T}」。`,
];
const zhOptionWalk: Template[] = [
  (q, L) => Object.keys(q.options).map((k) => `${k}项：${q.options[k]}，${k === L ? "正确" : "错误"}。`).join("\n"),
  (q, L) => Object.keys(q.options).map((k) => `${k}项${k === L ? "正确" : "错误"}`).join("，") + "。",
  (q, L) => Object.keys(q.options).map((k) => `选项${k}（${q.options[k]}）${k === L ? "符合题意" : "不符合题意"}。`).join("") + `\n故选${L}。`,
  (q, L) => "逐项分析：\n" + Object.keys(q.options).map((k) => `${k}. ${q.options[k]} —— ${k === L ? "正确" : "错误"}`).join("\n"),
  (q, L) => Object.keys(q.options).filter((k) => k !== L).map((k) => `${k}项${q.options[k]}不正确`).join("；") + `；${L}项${q.options[L]}是正确的。`,
];
const zhNegation: Template[] = [
  (q, L, T, W) => `不是${W[0]}，而是${L}。`,
  (q, L, T, W) => `正确答案不是${W[0]}，而是${L}。`,
  (q, L, T, W) => `排除${W[0]}、${W[1]}，答案是${L}。`,
  (q, L, T, W) => `${W[0]}项错误，${W[1]}项错误，应选${L}。`,
  (q, L, T, W) => `不选${W[0]}，选${L}。`,
  (q, L, T, W) => `${W[0]}看似合理，但${W[0]}错误，本题选${L}。`,
  (q, L, T, W) => `选项${W.slice(0, 3).sort().join("、")}均错误，故本题选${L}`,
  (q, L, T, W, TW) => `${TW[0]}不符合题意，可排除${W[0]}；正确答案为${L}。`,
  (q, L, T, W) => `很多考生误选${W[0]}，其实正确答案是${L}。`,
  (q, L, T, W) => `${W[0]}、${W[1]}两项说法错误，${L}项说法正确。`,
];
const zhTerms: Template[] = [
  (q, L) => `建议完善CT及MRI检查。本题答案为${L}。`,
  (q, L) => `患者HBV-DNA阳性，提示病毒复制活跃。答案：${L}`,
  (q, L) => `维生素D缺乏与本题无关，答案是${L}`,
  (q, L) => `B超可见典型表现，结合病史，故选${L}。`,
  (q, L) => `该病属于IgA肾病范畴吗？不是。正确答案：${L}`,
  (q, L) => `NYHA心功能分级为III级。选${L}。`,
  (q, L) => `CRP及ESR升高提示炎症活动。${reason(q, L)}答案${L}`,
  (q, L) => `CT示占位性病变。${reason(q, L)}答案是${L}。`,
  (q, L) => `A型血者与此无关，${reason(q, L)}所以答案是${L}。`,
  (q, L) => `DNA病毒与RNA病毒的区别是考点。${reason(q, L)}本题正确答案为${L}。`,
  (q, L) => `C反应蛋白升高、ALT轻度升高。最终选择${L}。`,
  (q, L) => `凝血因子VIII缺乏见于血友病A。本题选${L}。`,
];
const zhContent: Template[] = [
  (q, L, T) => T,
  (q, L, T) => `${T}。`,
  (q, L, T) => `根据题意，应为${T}。`,
  (q, L, T) => `该题正确答案是${T}。`,
  (q, L, T) => `${reason(q, L).replace(/[A-J](?=[对错])/g, "")}因此考虑为${T}。`,
  (q, L, T) => `答案是${T}。`,
];
const english: Template[] = [
  (q, L) => `The answer is ${L}.`,
  (q, L, T) => `The correct answer is (${L}) ${T}.`,
  (q, L) => `Answer: ${L}`,
  (q, L, T) => `I would choose ${L} because ${T} best matches the question.`,
  (q, L, T, W) => `Option ${L} is correct. ${W[0]} is incorrect because it does not fit the stem.`,
  (q, L) => `Let's think step by step. The stem describes a classic presentation. Therefore, the answer is ${L}.`,
  (q, L, T) => `**${L}. ${T}**\n\nExplanation: this is the textbook finding.`,
  (q, L, T) => `A patient with these findings most likely has ${T}. Final answer: ${L}`,
  (q, L) => `${L} is the correct answer.`,
  (q, L) => `Based on the clinical picture, the best choice is ${L}.`,
  (q, L) => `After ruling out the other options, the final answer is \\boxed{${L}}.`,
  (q, L, T, W) => `Not ${W[0]}. The answer is ${L}.`,
];
const think: Template[] = [
  (q, L, T, W, TW) => `<think>\n题目问的是${q.question.slice(0, 20)}……我先想到${W[0]}，但${TW[0]}不对。再看${L}，${T}符合。\n</think>\n\n答案：${L}`,
  (q, L, T, W) => `<think>\n答案可能是${W[0]}……不，应该是${L}。\n</think>\n${L}`,
  (q, L, T, W) => `嗯，用户问的是一道选择题。可能是${W[0]}？再想想。\n</think>\n\n正确答案是${L}。`,
  (q, L, T, W) => `<think>好的，我需要逐项分析。选项${W[0]}错误，答案是${W[1]}吗？不对。</think>故选${L}`,
  (q, L, T, W) => `<think>\nLet me check each option. ${W[0]} seems plausible but the answer is probably ${L}.\n</think>\n\nThe answer is ${L}.`,
];
const fullWidth: Template[] = [
  (q, L) => `答案是${FW[L] ?? L}。`,
  (q, L, T) => `（${FW[L] ?? L}）${T}`,
  (q, L) => `正确答案：${FW[L] ?? L}`,
  (q, L) => `${reason(q, L)}故选${FW[L] ?? L}。`,
];
const hedged: Template[] = [
  (q, L, T, W) => `${W[0]}和${L}都有一定道理，但结合题干，最终选${L}。`,
  (q, L, T, W) => `初看答案似乎是${W[0]}，但仔细分析后，答案应为${L}。`,
  (q, L, T, W) => `${reason(q, L)}虽然${W[0]}也有可能，但最佳答案是${L}。`,
];
const abstain: Template[] = [
  () => ["抱歉，我无法回答该问题，建议咨询医生。", []],
  () => ["题目信息不足，无法确定正确答案。", []],
  (q, L, T, W) => [`${W[0]}和${W[1]}都有可能，需要结合更多临床资料判断。`, []],
  () => ["I'm not sure about this one; please consult a textbook.", []],
  () => ["这道题我不太确定，建议查阅相关教材。", []],
  () => ["作为AI助手，我不能提供医疗诊断。", []],
  () => ["以上选项均不完全正确。", []],
  (q, L, T, W, TW) => [`${TW[0]}和${TW[1]}都需要考虑，无法只选一个。`, []],
];

const sep = (xs: string[], style: number) =>
  style === 0 ? xs.join("、") : style === 1 ? xs.join("") : style === 2 ? xs.join("，") : xs.slice(0, -1).join("、") + "和" + xs.at(-1);
const multiTemplates: ((q: Q, G: string[], W: string[]) => string)[] = [
  (q, G) => `答案：${sep(G, 0)}`,
  (q, G) => `正确答案为${sep(G, 1)}。`,
  (q, G) => `${sep(G, 3)}均正确。`,
  (q, G) => `本题为多选题，答案是${sep(G, 1)}。`,
  (q, G, W) => `选项${sep(G, 0)}正确，${sep(W, 0)}错误。`,
  (q, G) => `The correct answers are ${G.slice(0, -1).join(", ")} and ${G.at(-1)}.`,
  (q, G) => `${reason(q, G[0]!)}\n故选${sep(G, 1)}。`,
  (q, G) => `【答案】${sep(G, 1)}\n【解析】${reason(q, G[0]!)}`,
  (q, G) => sep(G, 1),
  (q, G) => `答案：${sep(G, 2)}`,
];

const categories: [string, "zh" | "en", Template[], number][] = [
  ["answer-first", "zh", zhAnswerFirst, 50],
  ["conclusion-last", "zh", zhConclusionLast, 50],
  ["option-walk", "zh", zhOptionWalk, 30],
  ["negation", "zh", zhNegation, 45],
  ["medical-terms", "zh", zhTerms, 40],
  ["content-only", "zh", zhContent, 30],
  ["english", "en", english, 45],
  ["think", "zh", think, 25],
  ["full-width", "zh", fullWidth, 15],
  ["hedged", "zh", hedged, 15],
  ["abstain", "zh", abstain, 20],
];

/** Content-only answers need an option text that is not inside another option, nor in the question. */
function contentSafe(q: Q, L: string): boolean {
  const t = q.options[L]!;
  return t.length >= 2 && !Object.entries(q.options).some(([k, v]) => k !== L && (v.includes(t) || t.includes(v))) && !q.question.includes(t);
}

const heldoutTemplates: [string, "zh" | "en", Template][] = [
  ["answer-first", "zh", (q, L, T) => `这道题的答案是：\n\n${L}. ${T}\n\n解释：${reason(q, L)}`],
  ["answer-first", "zh", (q, L) => `参考答案：${L}`],
  ["answer-first", "zh", (q, L) => `我选${L}。`],
  ["answer-first", "zh", (q, L, T) => `答案为：${L}（${T}）`],
  ["answer-first", "zh", (q, L, T) => `### 答案\n**${L}**\n\n### 解析\n${reason(q, L)}${T}。`],
  ["conclusion-last", "zh", (q, L) => `根据题干描述，${reason(q, L)}最可能的答案是${L}。`],
  ["conclusion-last", "zh", (q, L, T) => `依据教材，${T}。故答案为${L}。`],
  ["conclusion-last", "zh", (q, L) => `解析：${reason(q, L)}\n答案：${L}`],
  ["conclusion-last", "zh", (q, L) => `${reason(q, L)}该题答案应选${L}项。`],
  ["conclusion-last", "zh", (q, L) => `本题考查${q.subject}。${reason(q, L)}此题选${L}。`],
  ["verdict", "zh", (q, L, T) => `${L}项${T}是正确答案，其余选项均不符合。`],
  ["verdict", "zh", (q, L) => `选项${L}正确。`],
  ["verdict", "zh", (q, L) => `正确的是${L}。`],
  ["verdict", "zh", (q, L, T) => `${T}（选项${L}）是最合适的。`],
  ["negation", "zh", (q, L, T, W) => `${W[0]}是对的吗？不是。${L}是对的，${W[1]}是错的。`],
  ["negation", "zh", (q, L, T, W) => `首先排除${W[0]}和${W[1]}，在剩下的选项中，${L}更符合题意，所以选${L}。`],
  ["negation", "zh", (q, L, T, W) => `${W[0]}不对，${W[1]}也不对，剩下${L}是正确的。`],
  ["content-only", "zh", (q, L, T, W, TW) => `本题不是${TW[0]}，而是${T}。`],
  ["english", "en", (q, L) => `Correct option: ${L}`],
  ["english", "en", (q, L) => `My answer: ${L}`],
  ["english", "en", (q, L, T) => `The most appropriate answer would be ${L}) ${T}.`],
  ["english", "en", (q, L, T) => `${L}. ${T} — this is right because the stem points to it.`],
  ["english", "en", (q, L) => `Choice ${L}.`],
  ["think", "zh", (q, L, T, W, TW) => `<think>\n这是一道关于${q.subject}的题。选项${W[0]}说的是${TW[0]}，不对。\n</think>\n\n**${L}**`],
  ["abstain", "zh", () => ["这个问题涉及专业判断，我无法给出确定答案。", []]],
  ["abstain", "zh", (q, L, T, W) => [`选项${W[0]}和${L}似乎都对，难以取舍。`, []]],
];
const heldoutMulti: ((q: Q, G: string[]) => string)[] = [
  (q, G) => `应选${G.join("、")}。`,
  (q, G) => `正确答案包括${G.slice(0, -1).join("、")}和${G.at(-1)}。`,
  (q, G) => `${G.join("")}。`,
  (q, G) => `多选：${G.join(",")}`,
];

const items: FixtureItem[] = [];
let n = 0;
if (HELDOUT) {
  const pool = ceval(join(root, "data/samples/ceval/val"));
  for (let i = 0; i < 6 * heldoutTemplates.length; i++) {
    const [category, lang, t] = heldoutTemplates[i % heldoutTemplates.length]!;
    let q = pick(pool);
    if (category === "content-only") while (!contentSafe(q, q.answer[0]!)) q = pick(pool);
    const letter = q.answer[0]!;
    const wrong = Object.keys(q.options).filter((k) => k !== letter).sort(() => rand() - 0.5);
    const out = t(q, letter, q.options[letter]!, wrong, wrong.map((w) => q.options[w]!));
    const [response, gold] = typeof out === "string" ? [out, [letter]] : out;
    items.push({ id: `ho-${String(n++).padStart(3, "0")}`, category, lang, question: strip(q), response, gold });
  }
  const laterMulti = (multiFile && existsSync(multiFile) ? cmexam(multiFile, "cmexam-val") : []).filter((q) => q.answer.length > 1).slice(100, 124);
  laterMulti.forEach((q, i) => {
    items.push({ id: `ho-${String(n++).padStart(3, "0")}`, category: "multi-answer", lang: "zh", question: strip(q), response: heldoutMulti[i % heldoutMulti.length]!(q, q.answer), gold: q.answer });
  });
}
for (const [category, lang, templates, count] of HELDOUT ? [] : categories) {
  for (let i = 0; i < count; i++) {
    let q = pick(single);
    const L = q.answer[0]!;
    if (category === "content-only") while (!contentSafe(q, q.answer[0]!)) q = pick(single);
    const letter = q.answer[0]!;
    const wrong = Object.keys(q.options).filter((k) => k !== letter).sort(() => rand() - 0.5);
    const t = templates[i % templates.length]!;
    const out = t(q, letter, q.options[letter]!, wrong, wrong.map((w) => q.options[w]!));
    const [response, gold] = typeof out === "string" ? [out, [letter]] : out;
    void L;
    items.push({ id: `mc-${String(n++).padStart(3, "0")}`, category, lang, question: strip(q), response, gold });
  }
}
(HELDOUT ? [] : multi.slice(0, 40)).forEach((q, i) => {
  const wrong = Object.keys(q.options).filter((k) => !q.answer.includes(k));
  const response = multiTemplates[i % multiTemplates.length]!(q, q.answer, wrong);
  items.push({ id: `mc-${String(n++).padStart(3, "0")}`, category: "multi-answer", lang: /[a-z]{4}/.test(response) ? "en" : "zh", question: strip(q), response, gold: q.answer });
});

function strip(q: Q): Q {
  const { explanation, ...rest } = q;
  void explanation;
  return rest;
}

const out = join(root, `packages/eval-metrics/test/fixtures/${HELDOUT ? "choice-answers-heldout" : "choice-answers"}.jsonl`);
writeFileSync(out, items.map((x) => JSON.stringify(x)).join("\n") + "\n");
console.log(`${items.length} items → ${out}`);
