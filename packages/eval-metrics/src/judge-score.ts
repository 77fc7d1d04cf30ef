import type { ChatModel, ChatOptions } from "@sfmed/llm";
import { mapConcurrent, type Message } from "@sfmed/schema/io";
import { EvalInputError } from "./errors.js";
import { parseJudgment } from "./judge-parse.js";
import { overallRubric, type JudgeInput, type JudgeRubric } from "./judge-rubric.js";
import { winTieLoss, type WinTieLoss, type WinTieLossOptions } from "./win-tie-loss.js";

/** The judge's output could not be read after every retry. Carries each raw output. */
export class JudgeParseError extends Error {
  override readonly name = "JudgeParseError";
  readonly code = "UNPARSABLE_JUDGMENT";
  readonly outputs: string[];
  readonly id: string | undefined;
  constructor(outputs: string[], id?: string) {
    super(`${id ? `item "${id}": ` : ""}judge output unparsable after ${outputs.length} attempt(s): ${JSON.stringify(outputs.at(-1)?.slice(0, 200) ?? "")}`);
    this.outputs = outputs;
    this.id = id;
  }
}

export interface JudgeOptions {
  model: ChatModel;
  /** @default overallRubric() (1–10 overall, reference in the prompt) */
  rubric?: JudgeRubric;
  /** Extra calls after an unparsable judgment; each retry adds a format reminder turn. @default 2 */
  retries?: number;
  /** Passed to every judge call. @default { temperature: 0 } */
  chatOptions?: ChatOptions;
}

/** One graded answer: per-dimension scores, their mean as `score`, and every raw judge output. */
export interface Judgment {
  id: string;
  scores: Record<string, number>;
  score: number;
  outputs: string[];
}

/**
 * Grade one answer on its own against the reference answer (single-answer grading: no position bias).
 * @throws JudgeParseError when no attempt yields a readable, in-range score (never a default score).
 */
export async function judgeAnswer(item: JudgeInput & { id?: string }, options: JudgeOptions): Promise<Judgment> {
  const rubric = options.rubric ?? overallRubric();
  const retries = options.retries ?? 2;
  const chatOptions = options.chatOptions ?? { temperature: 0 };
  const messages: Message[] = rubric.buildMessages(item);
  const outputs: string[] = [];
  for (let attempt = 0; attempt <= retries; attempt++) {
    const res = await options.model.chat(messages, chatOptions);
    const text = res.texts[0] ?? "";
    outputs.push(text);
    const scores = parseJudgment(text, rubric);
    if (scores) {
      const values = rubric.dimensions.map((d) => scores[d.key]!);
      return { id: item.id ?? "", scores, score: values.reduce((a, b) => a + b, 0) / values.length, outputs };
    }
    messages.push({ role: "assistant", content: text }, { role: "user", content: rubric.repairPrompt });
  }
  throw new JudgeParseError(outputs, item.id);
}

/** A judgment, or the failure that prevented one (kept, not replaced by a made-up score). */
export type JudgeResult = (Judgment & { ok: true }) | { ok: false; id: string; error: string; outputs: string[] };

export interface JudgeManyOptions extends JudgeOptions {
  /** Judge calls in flight at once. @default 4 */
  concurrency?: number;
  /** Called as each item finishes (write it out to resume later). */
  onResult?: (r: JudgeResult) => void;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Grade many answers. Unparsable judgments become `{ ok: false }` results (with raw outputs) instead of
 * stopping the run; other errors (network, abort) propagate.
 */
export async function judgeAnswers(items: readonly (JudgeInput & { id: string })[], options: JudgeManyOptions): Promise<JudgeResult[]> {
  let done = 0;
  return mapConcurrent(
    items,
    options.concurrency ?? 4,
    async (item) => {
      let r: JudgeResult;
      try {
        r = { ok: true, ...(await judgeAnswer(item, options)) };
      } catch (e) {
        if (!(e instanceof JudgeParseError)) throw e;
        r = { ok: false, id: item.id, error: e.message, outputs: e.outputs };
      }
      options.onResult?.(r);
      options.onProgress?.(++done, items.length);
      return r;
    },
    { signal: options.signal },
  );
}

/** One item graded for two systems. */
export interface CompareItem {
  id: string;
  question: string;
  reference: string;
  answerA: string;
  answerB: string;
}

export interface CompareResult {
  a: JudgeResult[];
  b: JudgeResult[];
  /** A against B; items where either judgment failed are dropped and counted in `dropped`. */
  winTieLoss: WinTieLoss;
}

/**
 * The paper's AI evaluation: grade system A's and system B's answers separately against the reference, then
 * turn the paired scores into win/tie/loss (A's point of view).
 * @throws EvalInputError on repeated ids.
 */
export async function compareByJudge(items: readonly CompareItem[], options: JudgeManyOptions & WinTieLossOptions): Promise<CompareResult> {
  const ids = new Set<string>();
  for (const it of items) {
    if (ids.has(it.id)) throw new EvalInputError(`item id "${it.id}" appears twice`, { code: "DUPLICATE_ID", field: "id" });
    ids.add(it.id);
  }
  const total = items.length * 2;
  let done = 0;
  const progress = options.onProgress ? () => options.onProgress!(++done, total) : undefined;
  const sub = { ...options, ...(progress ? { onProgress: progress } : {}) };
  const a = await judgeAnswers(items.map((it) => ({ id: it.id, question: it.question, reference: it.reference, answer: it.answerA })), sub);
  const b = await judgeAnswers(items.map((it) => ({ id: it.id, question: it.question, reference: it.reference, answer: it.answerB })), sub);
  const score = (r: JudgeResult) => (r.ok ? r.score : null);
  return { a, b, winTieLoss: winTieLoss(a.map(score), b.map(score), options) };
}
