/**
 * Builds fixtures/choice-dev.jsonl: free-text answers to the bundled CMExam sample questions, written from
 * templates in the styles models answer in (long reasoning then a verdict, hedging, content-only conclusions,
 * negated questions, multi-answer lists, `<think>` blocks, Markdown, English letters in Chinese text, typos),
 * each labelled with the option letters it commits to (`[]` when it commits to none). Deterministic (seeded).
 *
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/build-choice-dev.ts
 *
 * Questions are read through the schema's `cmexam` converter. The sample has only two multi-answer rows, so
 * some single-answer rows are asked as multi-answer ("多选") with two or three intended options; the label is
 * what the answer commits to, not the exam key. See fixtures/README.md.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cmexam } from "@sfmed/schema";
import { repoRoot } from "@sfmed/test-utils";
import { seededRandom } from "@sfmed/schema";

export interface DevItem {
  id: string;
  /** What the answer relies on: a named letter, only option content, or nothing. */
  cls: "letter" | "content" | "none";
  polarity: "positive" | "negated";
  multiple: boolean;
  /** Template name, for reading misses. */
  style: string;
  question: string;
  options: Record<string, string>;
  response: string;
  gold: string[];
}

interface Q {
  question: string;
  options: Record<string, string>;
  answer: string[];
}
const qs: Q[] = [];
for await (const q of cmexam.from(join(repoRoot, "data/samples/cmexam/val.sample.csv"))) {
  qs.push({ question: q.question, options: q.options as Record<string, string>, answer: q.answer });
}

const rand = seededRandom(20261206);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const shuffle = <T>(xs: readonly T[]): T[] => {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};

// The generator's own reading of the stem (independent of the extractor's): the question's last clause asks
// for what is wrong / not included.
const NEG_CUE = /(不属于|不是|不包括|不正确|错误|不宜|不会|不能|不应|除外|例外|不符合|不恰当|不可能|无关|不常见|不出现|禁用|禁忌)/;
const negatedStem = (s: string) => NEG_CUE.test(s.split(/[，,。；;]/).filter((x) => x.trim()).at(-1) ?? "");

const FW: Record<string, string> = { A: "Ａ", B: "Ｂ", C: "Ｃ", D: "Ｄ", E: "Ｅ" };
const clean = (t: string) => t.replace(/[。.]$/, "");

const bag = (t: string) => Array.from(t.replace(/[^\p{L}\p{N}]/gu, "")).sort().join("");
/**
 * Mild paraphrase: punctuation changes, one dropped or swapped character, a suffix — what models write. Options
 * that are anagrams of another option (出、入、离、合 in different orders) stay verbatim: a typo there makes
 * the intended option unknowable, so the label would be a guess.
 */
function paraphrase(t: string, options?: Record<string, string>): string {
  if (options && Object.values(options).filter((o) => bag(o) === bag(t)).length > 1) return clean(t);
  let s = clean(t);
  const ops = shuffle(["punct", "drop", "typo", "suffix", "space", "none"]).slice(0, 2);
  for (const op of ops) {
    const chars = Array.from(s);
    if (op === "punct") s = s.replace(/[，,、]/g, pick(["、", "，", "和", ""]));
    else if (op === "drop" && chars.length >= 6) {
      const i = 1 + Math.floor(rand() * (chars.length - 2));
      chars.splice(i, 1);
      s = chars.join("");
    } else if (op === "typo" && chars.length >= 6) {
      const i = 1 + Math.floor(rand() * (chars.length - 2));
      chars[i] = pick(["的", "之", "而", "性"]);
      s = chars.join("");
    } else if (op === "suffix" && chars.length <= 10) s = s + pick(["", "为主", "方面", "之法"]);
    else if (op === "space") s = s.replace(/(.{2})/, "$1 ");
  }
  return s;
}

function analysis(q: Q, skip: string[]): string {
  const ks = shuffle(Object.keys(q.options).filter((k) => !skip.includes(k))).slice(0, 2);
  return ks.map((k) => pick([`${k}项${q.options[k]}，`, `选项${k}（${q.options[k]}）`, `${q.options[k]}`]) + pick(["与题干描述不完全相符。", "在某些情况下也可以考虑。", "需要结合其他表现判断。", "并非本题重点。"])).join("");
}

const stemTail = (q: Q) => clean(q.question).replace(/[（(]\s*[)）]/g, "").slice(-24);

type Gen = (q: Q, L: string[], W: string[]) => string;
interface Spec {
  name: string;
  cls: DevItem["cls"];
  /** Which questions the template reads right for; "any" = both. */
  when: "positive" | "negated" | "any";
  multiple: boolean;
  /** Letters the answer commits to: the intended ones (default) or none. */
  commits?: boolean;
  gen: Gen;
}

const T = (q: Q, l: string) => clean(q.options[l]!);

const specs: Spec[] = [
  // ── letter named, single ──
  { name: "final-answer-colon", cls: "letter", when: "any", multiple: false, gen: (q, [l], W) => `${analysis(q, [l!])}\n\n答案：${l}` },
  { name: "suo-yi-xuanxiang-zui-fuhe", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `${analysis(q, [l!])}所以选项${l}是最符合题意的。` },
  { name: "yinggai-xuanze", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `根据题干“${stemTail(q)}”，${pick(["我认为", "我们", ""])}应该选择${l}。` },
  { name: "ji-xuanxiang", cls: "letter", when: "positive", multiple: false, gen: (q, [l]) => `本题考查${stemTail(q)}，正确的应当是${T(q, l!)}，即选项${l}。` },
  { name: "zhiyou-x-xuanxiang", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `${analysis(q, [l!])}其中只有${l}选项${pick(["", T(q, l!)])}最符合题干的描述。` },
  { name: "fullwidth", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${pick(["综上", "因此", "所以"])}，答案为${FW[l!] ?? l}。` },
  { name: "x-xiang", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `${W[0]}项不对，${W[1]}项也不对，${l}项${T(q, l!)}正确。` },
  { name: "paren-letter", cls: "letter", when: "positive", multiple: false, gen: (q, [l]) => `最可能的是${T(q, l!)}（${l}）。` },
  { name: "bold-letter", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `### 分析\n${analysis(q, [l!])}\n\n### 结论\n**${l}**` },
  { name: "bold-answer", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `**答案：${l}. ${T(q, l!)}**\n\n解析：${analysis(q, [l!])}` },
  { name: "long-then-letter", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `我们逐项分析：\nA. ${T(q, "A")}：${pick(["可能性较小", "不完全符合", "需要考虑"])}。\nB. ${T(q, "B")}：${pick(["部分符合", "不典型", "不常见"])}。\nC. ${T(q, "C")}：${pick(["不符合", "有一定关系", "要鉴别"])}。\n\n综合以上分析，最佳答案是${l}。` },
  { name: "hedge-override", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `${l}和${W[0]}都有一定道理，${T(q, W[0]!)}也可以考虑。但是题目要求选择一个答案，所以我们选择${l}。` },
  { name: "think-then-answer", cls: "letter", when: "any", multiple: false, gen: (q, [l], W) => `<think>\n题目问的是${stemTail(q)}。也许是${W[0]}？不对，${W[0]}不太符合。再看${l}……\n</think>\n\n正确答案是 ${l}` },
  { name: "english-letter", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}So the answer is ${l}.` },
  { name: "answer-is-not-but", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `有人可能会选${W[0]}，但${T(q, W[0]!)}并不符合，正确答案应为${l}。` },
  { name: "letter-first-dot", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${l}. ${T(q, l!)}\n\n${pick(["理由：", "解析：", ""])}${analysis(q, [l!])}` },
  { name: "yingxuan-d-xiang", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}故本题应选${l}项。` },
  { name: "letter-zui-heshi", cls: "letter", when: "positive", multiple: false, gen: (q, [l]) => `经过比较，${l}（${T(q, l!)}）是最合适的选择。` },
  { name: "answer-bracket", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `【答案】${l}\n【解析】${analysis(q, [l!])}` },
  { name: "final-choice-line", cls: "letter", when: "any", multiple: false, gen: (q, [l], W) => `${analysis(q, [l!])}\n最终选择：${l}` },
  // ── letter, negated stems ──
  { name: "neg-xuanxiang-cuowu", cls: "letter", when: "negated", multiple: false, gen: (q, [l], W) => `${W[0]}项${T(q, W[0]!)}说法正确；${W[1]}项也正确。因此，选项${l}是错误的。` },
  { name: "neg-suoyi-bushuyu", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}所以${l}${pick(["不属于", "不符合", "不是"])}题干所述。` },
  { name: "neg-letter-wrong-answer", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `${l}项${T(q, l!)}的说法有误，为本题答案。` },
  { name: "neg-only-x-not", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `其余选项都符合，只有${l}不符合，故选${l}。` },
  { name: "neg-answer-is", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `题目问的是“${stemTail(q)}”。${analysis(q, [l!])}答案是${l}。` },
  // ── content only ──
  { name: "content-benti-daan", cls: "content", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}因此，本题的答案应该是${T(q, l!)}。` },
  { name: "content-zui-heshi", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}综上，最合适的${pick(["选择", "答案", "处理"])}为${paraphrase(q.options[l!]!, q.options)}。` },
  { name: "content-paraphrase-end", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `结合题干分析，${pick(["故", "所以", "因此"])}应${pick(["选", "考虑", "首选"])}${paraphrase(q.options[l!]!, q.options)}。` },
  { name: "content-several-options", cls: "content", when: "positive", multiple: false, gen: (q, [l], W) => `${T(q, W[0]!)}${pick(["可以排除", "不太符合", "并非首选"])}，${T(q, W[1]!)}也${pick(["不符合", "不典型"])}。因此最符合的是${T(q, l!)}。` },
  { name: "content-markdown", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `## 解答\n\n${analysis(q, [l!])}\n\n**结论：${paraphrase(q.options[l!]!, q.options)}**` },
  { name: "content-think", cls: "content", when: "any", multiple: false, gen: (q, [l], W) => `<think>可能是${T(q, W[0]!)}，也可能是${T(q, l!)}，再想想。</think>\n综上所述，答案是${T(q, l!)}。` },
  { name: "content-short", cls: "content", when: "any", multiple: false, gen: (q, [l]) => `${T(q, l!)}。` },
  { name: "content-typo", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}所以我认为正确答案是：${paraphrase(q.options[l!]!, q.options)}` },
  { name: "content-neg-bushuyu", cls: "content", when: "negated", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}因此，${pick(["不属于的是", "错误的是", "不符合的是", "应除外的是"])}${T(q, l!)}。` },
  { name: "content-neg-subject", cls: "content", when: "negated", multiple: false, gen: (q, [l]) => `综上，${paraphrase(q.options[l!]!, q.options)}${pick(["不属于此类", "的说法是错误的", "不符合题意"])}，故选它。` },
  { name: "content-english-mixed", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `Answer: ${T(q, l!)}` },
  // ── multiple ──
  { name: "multi-he", cls: "letter", when: "positive", multiple: true, gen: (q, L) => `${analysis(q, L)}因此答案是${L.slice(0, -1).join("、")}和${L.at(-1)}。` },
  { name: "multi-concat", cls: "letter", when: "any", multiple: true, gen: (q, L) => `答案：${L.join("")}` },
  { name: "multi-dun", cls: "letter", when: "any", multiple: true, gen: (q, L) => `正确选项为${L.join("、")}。` },
  { name: "multi-dou", cls: "letter", when: "positive", multiple: true, gen: (q, L) => `选项${L.slice(0, -1).join("、")}与${L.at(-1)}都${pick(["正确", "符合题意"])}。` },
  { name: "multi-neg-dou-bushi", cls: "letter", when: "negated", multiple: true, gen: (q, L) => `${L.join("和")}都不是${pick(["正确的说法", "题干所述内容"])}，故选${L.join("")}。` },
  { name: "multi-content", cls: "content", when: "positive", multiple: true, gen: (q, L) => `综上，正确的是${L.map((l) => T(q, l)).join("和")}。` },
  // ── more letter styles ──
  { name: "xuanxiang-fullwidth", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `经过分析，我认为本题的正确答案是选项${FW[l!] ?? l}。` },
  { name: "paren-at-end", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}故本题选择（${l}）。` },
  { name: "da-colon", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `答：${l}\n${analysis(q, [l!])}` },
  { name: "bold-after-walk", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `- ${W[0]}：${T(q, W[0]!)}，不符合。\n- ${W[1]}：${T(q, W[1]!)}，不典型。\n- ${l}：${T(q, l!)}，符合。\n\n**正确答案：${l}**` },
  { name: "letter-is-correct", cls: "letter", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}${l}${pick(["是正确答案", "为正确选项", "选项描述正确"])}。` },
  { name: "my-answer-paren", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `我的答案是 ${l}) ${T(q, l!)}` },
  { name: "english-correct-option", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}\nThe correct option is ${l}, ${T(q, l!)}.` },
  { name: "boxed", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}\n\n最终答案：$\\boxed{${l}}$` },
  { name: "final-newline-letter-dot", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}\n\n最终答案：\n\n${l}. ${T(q, l!)}` },
  { name: "strict-only-correct", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `${W[0]}和${l}看似都对，但严格来说只有${l}正确，所以答案是${l}。` },
  { name: "eliminate-then-pick", cls: "letter", when: "positive", multiple: false, gen: (q, [l], W) => `首先排除${W[0]}和${W[1]}，然后在${l}和${W[2] ?? W[0]}之间，${l}更符合，所以选${l}。` },
  { name: "ben-ti-xuan-x-xiang", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `本题选${l}项。` },
  { name: "spaced-latin", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}所以选 ${l} 。` },
  { name: "neg-all-others-belong", cls: "letter", when: "negated", multiple: false, gen: (q, [l], W) => `${W.slice().sort().join("、")}均符合题干，${l}不符合，故答案为${l}。` },
  { name: "neg-chu-x-wai", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `除${l}外，其余各项说法均正确，因此本题选${l}。` },
  { name: "neg-only-x-wrong", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}只有${l}的说法是错误的。` },
  { name: "neg-wrong-option-is", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `错误的选项是${l}。` },
  { name: "neg-x-wrong-rest-right", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `${l}项错误，其余正确。` },
  // ── more content styles ──
  { name: "content-diagnosis-bold", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}\n\n**最可能的答案：${T(q, l!)}**` },
  { name: "content-shouxuan", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}治疗首选${paraphrase(q.options[l!]!, q.options)}。` },
  { name: "content-wo-renwei", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}我认为答案是${T(q, l!)}。` },
  { name: "content-zuiwei-qiadang", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `比较各项后，${T(q, l!)}最为恰当。` },
  { name: "content-neg-bushuyu-de-shi", cls: "content", when: "negated", multiple: false, gen: (q, [l]) => `不属于的是${T(q, l!)}。` },
  { name: "content-neg-youwu", cls: "content", when: "negated", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}因此，${T(q, l!)}的说法有误。` },
  // ── more multiple ──
  { name: "multi-san-xiang", cls: "letter", when: "any", multiple: true, gen: (q, L) => `正确答案为${L.join("、")}${["", "", "两项", "三项", "四项"][L.length]}。` },
  { name: "multi-bold", cls: "letter", when: "any", multiple: true, gen: (q, L) => `${analysis(q, L)}\n\n**答案：${L.join("")}**` },
  { name: "multi-neg-dou-bushuyu", cls: "letter", when: "negated", multiple: true, gen: (q, L) => `${L.join("和")}都不属于题干所述，所以答案是${L.join("")}。` },
  // ── more that commit to nothing ──
  { name: "none-disclaimer-only", cls: "none", when: "any", multiple: false, commits: false, gen: () => `以上分析仅供参考，请以教材为准。` },
  { name: "none-maybe-a-or-c", cls: "none", when: "any", multiple: false, commits: false, gen: (q, L, W) => `这道题我不太确定，可能是${W[0]}也可能是${W[1]}。` },
  { name: "none-walk-no-verdict", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `各选项分析如下：${Object.keys(q.options).map((k) => `${k}项${T(q, k)}，${pick(["与病机有关", "需鉴别", "临床常见"])}`).join("；")}。` },
  { name: "none-echo-prompt", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `选择题：${clean(q.question)}\n${Object.entries(q.options).map(([k, v]) => `${k}. ${v}`).join("\n")}\n请选择正确答案。` },
  { name: "none-options-listed", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `选项有：${Object.entries(q.options).map(([k, v]) => `${k}. ${v}`).join("；")}。需要进一步分析才能判断。` },
  { name: "none-think-only", cls: "none", when: "any", multiple: false, commits: false, gen: (q, L, W) => `<think>答案可能是${W[0]}，${T(q, W[0]!)}……</think>` },
  { name: "none-cannot-pick", cls: "none", when: "any", multiple: false, commits: false, gen: () => `我无法确定哪个选项正确，建议查阅相关教材。` },
  { name: "none-content-elimination", cls: "none", when: "positive", multiple: false, commits: false, gen: (q, L, W) => `${analysis(q, [])}因此，${T(q, W[0]!)}是错误的。` },
  // ── styles added in a third pass ──
  { name: "conclusion-then-long-tail", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}因此，本题答案为${l}。\n\n需要注意的是，临床上还应结合患者的具体情况。此外，${T(q, l!)}的相关知识也是考试重点。建议同时复习相关章节。最后，注意与类似病证鉴别。` },
  { name: "content-then-long-tail", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}综上所述，正确答案是${T(q, l!)}。\n\n需要注意的是，临床上还应结合舌脉。此外要注意鉴别。建议复习教材相关内容。最后，具体治疗应个体化。` },
  { name: "neg-restated-de-shi", cls: "letter", when: "negated", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}根据题意，${stemTail(q)}${l}。` },
  { name: "answer-colon-letter-dot-content", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}答案为：${l}. ${T(q, l!)}` },
  { name: "bold-letter-content-newline", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `正确答案：\n\n**${l}. ${T(q, l!)}**\n\n${analysis(q, [l!])}` },
  { name: "content-paren-option-letter", cls: "letter", when: "positive", multiple: false, gen: (q, [l]) => `根据题干信息，最可能的是${T(q, l!)}（选项${l}）。` },
  { name: "content-with-purpose", cls: "content", when: "positive", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}因此，本题的答案是${T(q, l!)}，以达到${pick(["治病求本", "标本兼治", "缓解症状"])}的目的。` },
  { name: "wo-xuan-short", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `我选${l}。` },
  { name: "xuanxiang-paren-letter", cls: "letter", when: "any", multiple: false, gen: (q, [l]) => `${analysis(q, [l!])}综上，应选选项 (${l})。` },
  { name: "none-study-advice", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `这道题目考查${stemTail(q)}，建议复习相关章节，掌握各选项的区别。` },
  { name: "none-both-possible-content", cls: "none", when: "positive", multiple: false, commits: false, gen: (q, L, W) => `综上，${T(q, W[0]!)}和${T(q, W[1]!)}都有可能，需要进一步检查。` },
  // ── commits to nothing ──
  { name: "none-all-wrong", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `${analysis(q, [])}以上选项都不正确。` },
  { name: "none-cannot-determine", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `${analysis(q, [])}仅凭题干信息无法确定答案，建议结合临床资料进一步判断。` },
  { name: "none-refusal", cls: "none", when: "any", multiple: false, commits: false, gen: () => pick(["抱歉，我无法回答该问题，请咨询专业医生。", "作为AI模型，我不能提供医疗诊断，请就医。", "这个问题涉及专业知识，我不确定。"]) },
  { name: "none-restate", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `题目问的是：${clean(q.question)}。需要在${Object.keys(q.options).join("、")}中选择${pick(["一个最佳答案", "正确选项"])}。` },
  { name: "none-analysis", cls: "none", when: "any", multiple: false, commits: false, gen: (q) => `这道题考查的是${stemTail(q)}的相关知识。${Object.keys(q.options).map((k) => `${k}项${T(q, k)}需要结合临床表现判断`).join("；")}。` },
  { name: "none-hedge-two", cls: "none", when: "any", multiple: false, commits: false, gen: (q, L, W) => `${W[0]}和${W[1]}都有可能，需要更多信息才能确定。` },
  { name: "none-elimination-positive", cls: "none", when: "positive", multiple: false, commits: false, gen: (q, L, W) => `${analysis(q, [])}因此，选项${W[0]}是错误的。` },
  { name: "none-question-back", cls: "none", when: "any", multiple: false, commits: false, gen: (q, L, W) => `答案是${W[0]}吗？我不确定，${T(q, W[0]!)}和${T(q, W[1]!)}都需要排除其他疾病。` },
];

const items: DevItem[] = [];
let n = 0;
const usable = qs.filter((q) => Object.keys(q.options).length >= 4);
for (const q of usable) {
  const polarity = negatedStem(q.question) ? "negated" : "positive";
  const letters = Object.keys(q.options);
  // Negated stems are rarer in the sample: give them more answers each.
  const perQ = polarity === "negated" ? 9 : 3;
  const fitting = specs.filter((s) => s.when === "any" || s.when === polarity);
  for (let k = 0; k < perQ; k++) {
    const s = k === 0 && rand() < 0.12 ? pick(fitting.filter((x) => x.cls === "none")) : pick(fitting);
    const multiple = s.multiple || q.answer.length > 1;
    const L = s.multiple ? (q.answer.length > 1 ? q.answer.slice() : shuffle(letters).slice(0, 2 + Math.floor(rand() * 2)).sort()) : [q.answer[0]!];
    if (L.length === 1 && rand() < 0.25) L[0] = pick(letters); // answers are not always right: the label is what they say
    const W = shuffle(letters.filter((x) => !L.includes(x)));
    if (W.length < 2) continue;
    const response = s.gen(q, L, W);
    items.push({
      id: `dev-${String(n++).padStart(4, "0")}`,
      cls: s.cls,
      polarity,
      multiple,
      style: s.name,
      question: q.question,
      options: q.options,
      response,
      gold: s.commits === false ? [] : L.slice().sort(),
    });
  }
}

const out = join(repoRoot, "packages/eval-metrics/fixtures/choice-dev.jsonl");
writeFileSync(out, items.map((i) => JSON.stringify(i)).join("\n") + "\n");
const count = (f: (i: DevItem) => boolean) => items.filter(f).length;
console.log(`${items.length} items → ${out}`);
console.log(`letter ${count((i) => i.cls === "letter")}, content ${count((i) => i.cls === "content")}, none ${count((i) => i.cls === "none")}; negated ${count((i) => i.polarity === "negated")}; multiple ${count((i) => i.multiple)}`);
