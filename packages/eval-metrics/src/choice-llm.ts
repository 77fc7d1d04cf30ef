import type { ChatModel, ChatOptions } from "@sfmed/llm";
import { forEachConcurrent, type ChoiceQuestion, type Message, type Prediction } from "@sfmed/schema/io";
import { explainChoice, type ChoiceOptions } from "./choice-extract.js";
import { defaultIsMultiple } from "./choice-score.js";

/** Which extractor reads the letters: the rules alone, a judge model alone, or the judge only where the rules abstain. */
export type ChoiceExtractorMode = "rules" | "llm" | "rules+llm";
export const CHOICE_EXTRACTOR_MODES: readonly ChoiceExtractorMode[] = ["rules", "llm", "rules+llm"];

export interface ChoiceJudgeInput {
  response: string;
  options: ChoiceOptions;
  multiple: boolean;
  question?: string | undefined;
}

/**
 * The fixed judge prompt: the model reports which option(s) the answer finally chose, not whether they are right,
 * and says 无 when it chose none. Changing this text changes every cached judgment, so it is versioned.
 */
export const CHOICE_JUDGE_PROMPT_VERSION = 1;
export function choiceJudgeMessages({ response, options, multiple, question }: ChoiceJudgeInput): Message[] {
  const opts = Object.entries(options)
    .filter(([k, v]) => /^[A-Z]$/.test(k) && v !== undefined)
    .map(([k, v]) => `${k}. ${v}`)
    .join("\n");
  return [
    { role: "system", content: "你是考试阅卷员。你只判断考生的回答最终选择了哪个（些）选项，不判断选择是否正确。" },
    {
      role: "user",
      content:
        `${question ? `题目：${question}\n` : ""}选项：\n${opts}\n题型：${multiple ? "多选题（可选多个）" : "单选题"}\n\n考生回答：\n<<<\n${response}\n>>>\n\n` +
        "考生最终选择了哪个选项？只输出一行：「答案：X」（多个选项按字母顺序连写，如「答案：BD」）。" +
        "如果回答没有明确选择任何选项（拒答、无法确定、只分析不下结论、认为都不对），输出「答案：无」。",
    },
  ];
}

/** Read 「答案：BD」/「答案：无」 (the last such line); undefined when the reply says neither. */
export function parseChoiceJudgment(text: string, letters: readonly string[]): string[] | undefined {
  const m = [...text.normalize("NFKC").matchAll(/答案\s*[:：]\s*(无|[A-Z](?:\s*[、,，]?\s*[A-Z])*)/g)].at(-1);
  if (!m) return undefined;
  if (m[1] === "无") return [];
  const got = [...new Set(m[1]!.replace(/[^A-Z]/g, ""))].sort();
  return got.every((l) => letters.includes(l)) ? got : undefined;
}

export interface ChoiceDecision {
  letters: string[];
  /** The rule that decided (see `ChoiceExtraction.rule`), "llm", or "llm-unreadable" (counted as abstaining). */
  rule: string;
  path: "rules" | "llm";
}

export interface DecideChoicesOptions {
  mode: ChoiceExtractorMode;
  /** The judge model; required unless `mode` is "rules". Give it a `cacheDir` so reruns reuse its answers. */
  model?: ChatModel;
  /** @default { temperature: 0 } */
  chatOptions?: ChatOptions;
  /** Judge calls in flight. @default 4 */
  concurrency?: number;
  isMultiple?: (q: ChoiceQuestion) => boolean;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Decide each prediction's letters with the chosen extractor; returns decisions keyed by `model` then `id`
 * (pass `decisionLookup(result)` to `scoreChoices`/`evaluateChoices` as `decide`). Identical judge prompts are
 * asked once. A single-answer question the judge answers with several letters counts as an abstention.
 */
export async function decideChoices(
  questions: readonly ChoiceQuestion[],
  predictions: Iterable<Prediction>,
  options: DecideChoicesOptions,
): Promise<Map<string, Map<string, ChoiceDecision>>> {
  if (options.mode !== "rules" && !options.model) throw new TypeError(`extractor "${options.mode}" needs a judge model`);
  const isMultiple = options.isMultiple ?? defaultIsMultiple;
  const byId = new Map(questions.map((q) => [q.id, q]));
  const out = new Map<string, Map<string, ChoiceDecision>>();
  const queue: { p: Prediction; q: ChoiceQuestion; multiple: boolean }[] = [];
  for (const p of predictions) {
    const q = byId.get(p.id);
    if (!q) continue;
    const multiple = isMultiple(q);
    const e = explainChoice(p.output, q.options, { multiple, question: q.question });
    const slot = out.get(p.model) ?? out.set(p.model, new Map()).get(p.model)!;
    if (options.mode === "rules" || (options.mode === "rules+llm" && e.letters.length)) slot.set(p.id, { letters: e.letters, rule: e.rule, path: "rules" });
    else queue.push({ p, q, multiple });
  }
  const asked = new Map<string, Promise<string>>();
  let done = 0;
  await forEachConcurrent(
    queue,
    async ({ p, q, multiple }) => {
      const messages = choiceJudgeMessages({ response: p.output, options: q.options, multiple, question: q.question });
      const key = JSON.stringify(messages);
      let reply = asked.get(key);
      if (!reply) asked.set(key, (reply = options.model!.chat(messages, options.chatOptions ?? { temperature: 0 }).then((r) => r.texts[0] ?? "")));
      const letters = parseChoiceJudgment(await reply, Object.keys(q.options));
      const ok = letters !== undefined && (multiple || letters.length <= 1);
      out.get(p.model)!.set(p.id, { letters: ok ? letters : [], rule: ok ? "llm" : "llm-unreadable", path: "llm" });
      options.onProgress?.(++done, queue.length);
    },
    { concurrency: options.concurrency ?? 4 },
  );
  return out;
}

/** `decide` for `scoreChoices`/`evaluateChoices` from `decideChoices`' result. */
export function decisionLookup(decisions: ReadonlyMap<string, ReadonlyMap<string, ChoiceDecision>>) {
  return (_q: ChoiceQuestion, p: Prediction): ChoiceDecision | undefined => decisions.get(p.model)?.get(p.id);
}
