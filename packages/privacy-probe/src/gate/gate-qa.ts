import {
  compareByJudge,
  formatWinTieLoss,
  overallRubric,
  questionText,
  winTieLoss,
  type JudgeManyOptions,
  type JudgeResult,
  type WinTieLoss,
  type WinTieLossOptions,
} from "@sfmed/eval-metrics";
import type { CompletionModel } from "@sfmed/llm";
import { forEachConcurrent, type ReferenceQA } from "@sfmed/schema";
import { PrivacyProbeError } from "../errors.js";
import { chatmlPrompt, type PromptRenderer } from "../memorization/probe-sample.js";

/** One QA set of Table 11 (CMtMedQA, huatuo26M, webMedQA in the paper). */
export interface GateQaSet {
  name: string;
  items: readonly ReferenceQA[];
}

/** The paper's protocol for the gate (Table 11): both models answer QA sets, a judge grades every answer. */
export interface GateQaOptions {
  sets: readonly GateQaSet[];
  /** The judge (GPT-4 in the paper), rubric, retries and calls in flight; each answer is graded on its own. */
  judge: JudgeManyOptions;
  /** Answer budget. @default 512 */
  maxTokens?: number;
  /** Renders a QA prompt for the completion models. @default chatmlPrompt (the probe's renderer) */
  renderPrompt?: PromptRenderer;
  /** Win/tie/loss: tie epsilon (default 0: equal judge scores tie), bootstrap seed and resamples. */
  winTieLoss?: WinTieLossOptions;
}

/** Both answers to one QA item and their judge scores (null: unparsable judgment, left out of win/tie/loss). */
export interface GateQaItem {
  set: string;
  id: string;
  original: string;
  safe: string;
  scoreOriginal: number | null;
  scoreSafe: number | null;
}

export interface GateQaSetResult {
  name: string;
  n: number;
  /** The original (ungated) model against the privacy-safe (gated) one, as Table 11 orients it. */
  winTieLoss: WinTieLoss;
  /** The paper's cell, `"0.152/0.698/0.150"`. */
  cell: string;
  items: GateQaItem[];
}

export interface GateQaEvaluation {
  judge: string;
  rubric: string;
  /** Who "wins": the original model, against the privacy-safe model (Table 11's "Original Model vs. Privacy-Safe Model"). */
  orientation: "original-vs-safe";
  sets: GateQaSetResult[];
  /** Every set merged (the paper's "All" rows), when there is more than one. */
  all?: { n: number; winTieLoss: WinTieLoss; cell: string };
}

/** The memorized/held-out part of the evaluation shares the models, progress and concurrency with this one. */
export interface GateQaContext {
  ungated: CompletionModel;
  gated: CompletionModel;
  stop?: string[] | undefined;
  concurrency: number;
  tick: () => void;
  signal?: AbortSignal | undefined;
}

/** Judge calls and answers a QA run makes, for progress totals: per item two answers are one step, two judgments two. */
export function gateQaSteps(qa: GateQaOptions | undefined): number {
  return qa ? 3 * qa.sets.reduce((s, set) => s + set.items.length, 0) : 0;
}

const score = (r: JudgeResult | undefined) => (r?.ok ? r.score : null);

/**
 * Table 11 for one gate: greedy answers of the ungated and the gated model to every QA item, each graded by the
 * judge against the reference, turned into win/tie/loss of the original against the privacy-safe model per set.
 * @throws {PrivacyProbeError} on duplicate set names or an empty set list; whatever the models or judge throw
 */
export async function compareGateOnQa(qa: GateQaOptions, ctx: GateQaContext): Promise<GateQaEvaluation> {
  if (qa.sets.length === 0) throw new PrivacyProbeError("qa needs at least one set", { field: "qa.sets" });
  const names = new Set<string>();
  for (const s of qa.sets) {
    if (names.has(s.name)) throw new PrivacyProbeError(`QA set "${s.name}" given twice`, { field: "qa.sets" });
    names.add(s.name);
  }
  const render = qa.renderPrompt ?? chatmlPrompt;
  const params = {
    temperature: 0,
    maxTokens: qa.maxTokens ?? 512,
    seed: 0,
    ...(ctx.stop ? { stop: ctx.stop } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
  const wtl = { tieEpsilon: 0, ...qa.winTieLoss };
  const sets: GateQaSetResult[] = [];
  for (const set of qa.sets) {
    const original = new Array<string>(set.items.length);
    const safe = new Array<string>(set.items.length);
    await forEachConcurrent(
      set.items.map((item, i) => ({ item, i })),
      async ({ item, i }) => {
        const prompt = render(item.prompt.map((m) => ({ role: m.role, content: m.content })));
        const [u, g] = await Promise.all([ctx.ungated.complete(prompt, params), ctx.gated.complete(prompt, params)]);
        original[i] = u.text;
        safe[i] = g.text;
        ctx.tick();
      },
      { concurrency: ctx.concurrency, signal: ctx.signal },
    );
    const judged = await compareByJudge(
      set.items.map((item, i) => ({ id: item.id, question: questionText(item), reference: item.reference, answerA: original[i]!, answerB: safe[i]! })),
      { ...qa.judge, ...wtl, onProgress: () => ctx.tick(), ...(ctx.signal ? { signal: ctx.signal } : {}) },
    );
    sets.push({
      name: set.name,
      n: set.items.length,
      winTieLoss: judged.winTieLoss,
      cell: formatWinTieLoss(judged.winTieLoss, { digits: 3 }),
      items: set.items.map((item, i) => ({
        set: set.name,
        id: item.id,
        original: original[i]!,
        safe: safe[i]!,
        scoreOriginal: score(judged.a[i]),
        scoreSafe: score(judged.b[i]),
      })),
    });
  }
  const rubric = (qa.judge.rubric ?? overallRubric()).name;
  const result: GateQaEvaluation = { judge: qa.judge.model.name, rubric, orientation: "original-vs-safe", sets };
  if (sets.length > 1) {
    const items = sets.flatMap((s) => s.items);
    const merged = winTieLoss(
      items.map((it) => it.scoreOriginal),
      items.map((it) => it.scoreSafe),
      wtl,
    );
    result.all = { n: items.length, winTieLoss: merged, cell: formatWinTieLoss(merged, { digits: 3 }) };
  }
  return result;
}
