import type { ChoiceQuestion, Prediction, ReferenceQA } from "@sfmed/schema";
import { scoreChoices, type ChoiceItemResult, type ScoreChoicesOptions } from "./choice-score.js";
import { EvalInputError } from "./errors.js";
import { judgeAnswers, type JudgeManyOptions, type JudgeResult } from "./judge-score.js";
import { overallRubric } from "./judge-rubric.js";
import { rougeLBatch, type RougeBatchOptions } from "./rouge-batch.js";
import type { ChoiceReport, CompareReport, JudgeReport, RougeReport } from "./report-types.js";
import { winTieLoss, type WinTieLossOptions } from "./win-tie-loss.js";

/** Predictions grouped by their `model` field, in first-seen order. Repeated (model, id) pairs are an error. */
export function groupByModel(predictions: Iterable<Prediction>): Map<string, Map<string, Prediction>> {
  const out = new Map<string, Map<string, Prediction>>();
  for (const p of predictions) {
    let m = out.get(p.model);
    if (!m) out.set(p.model, (m = new Map()));
    if (m.has(p.id)) throw new EvalInputError(`model "${p.model}" has two predictions for id "${p.id}"`, { code: "DUPLICATE_ID", field: "id" });
    m.set(p.id, p);
  }
  return out;
}

/** The question text a judge sees: the last user turn, preceded by earlier turns for multi-turn prompts. */
export function questionText(qa: ReferenceQA): string {
  const turns = qa.prompt.filter((m) => m.role !== "system");
  if (turns.length <= 1) return turns[0]?.content ?? "";
  return turns.map((m) => `${m.role === "user" ? "患者" : "医生"}：${m.content}`).join("\n");
}

/** Per-item ROUGE-L of one system. */
export interface RougeItem {
  id: string;
  model: string;
  precision: number;
  recall: number;
  f: number;
  missing: boolean;
}

/**
 * ROUGE-L of every system against the references. A reference with no prediction from a system scores 0 for it
 * (counted in `missing`).
 */
export async function evaluateRouge(
  references: readonly ReferenceQA[],
  predictions: Iterable<Prediction>,
  options: RougeBatchOptions = {},
): Promise<{ report: RougeReport; items: RougeItem[] }> {
  const systems = groupByModel(predictions);
  const report: RougeReport = { kind: "rouge", tokenizer: typeof options.tokenizer === "function" ? "custom" : (options.tokenizer ?? (options.compat === "rouge-chinese" ? "jieba" : "char")), compat: options.compat ?? "rouge-score", systems: [] };
  const items: RougeItem[] = [];
  for (const [model, preds] of systems) {
    const pairs = references.map((r) => ({ candidate: preds.get(r.id)?.output ?? "", reference: r.reference }));
    const scores = await rougeLBatch(pairs, { ...options, empty: options.empty ?? "zero" });
    let missing = 0;
    const sum = { precision: 0, recall: 0, f: 0 };
    references.forEach((r, i) => {
      const s = scores[i]!;
      const miss = !preds.has(r.id);
      if (miss) missing++;
      sum.precision += s.precision;
      sum.recall += s.recall;
      sum.f += s.f;
      items.push({ id: r.id, model, ...s, missing: miss });
    });
    const n = references.length || 1;
    report.systems.push({ model, n: references.length, missing, precision: sum.precision / n, recall: sum.recall / n, f: sum.f / n });
  }
  return { report, items };
}

/** Multiple-choice accuracy of every system. */
export function evaluateChoices(questions: readonly ChoiceQuestion[], predictions: Iterable<Prediction>, options: ScoreChoicesOptions = {}): { report: ChoiceReport; items: (ChoiceItemResult & { model: string })[] } {
  const report: ChoiceReport = { kind: "mc", systems: [] };
  const items: (ChoiceItemResult & { model: string })[] = [];
  for (const [model, preds] of groupByModel(predictions)) {
    const s = scoreChoices(questions, [...preds.values()], options);
    const { items: its, unmatched, ...summary } = s;
    void unmatched;
    report.systems.push({ model, ...summary });
    items.push(...its.map((it) => ({ ...it, model })));
  }
  return { report, items };
}

function judgeSummary(model: string, results: readonly JudgeResult[]) {
  const ok = results.filter((r): r is Extract<JudgeResult, { ok: true }> => r.ok);
  const dims: Record<string, number> = {};
  for (const r of ok) for (const [k, v] of Object.entries(r.scores)) dims[k] = (dims[k] ?? 0) + v / ok.length;
  return { model, n: results.length, failed: results.length - ok.length, mean: ok.length ? ok.reduce((a, r) => a + r.score, 0) / ok.length : NaN, dimensions: dims };
}

/**
 * Judge scores of every system (each answer graded on its own against the reference). Items a system did not
 * answer are not judged.
 */
export async function evaluateJudge(
  references: readonly ReferenceQA[],
  predictions: Iterable<Prediction>,
  options: JudgeManyOptions,
): Promise<{ report: JudgeReport; judgments: (JudgeResult & { model: string })[] }> {
  const rubric = options.rubric ?? overallRubric();
  const report: JudgeReport = { kind: "judge", judge: options.model.name, rubric: rubric.name, systems: [] };
  const judgments: (JudgeResult & { model: string })[] = [];
  for (const [model, preds] of groupByModel(predictions)) {
    const todo = references.filter((r) => preds.has(r.id)).map((r) => ({ id: r.id, question: questionText(r), reference: r.reference, answer: preds.get(r.id)!.output }));
    const results = await judgeAnswers(todo, { ...options, rubric });
    report.systems.push(judgeSummary(model, results));
    judgments.push(...results.map((r) => ({ ...r, model })));
  }
  return { report, judgments };
}

/** `tieEpsilon` defaults to 1e-12 for ROUGE-L (float noise) and 0 for judge scores. */
export interface CompareOptions extends WinTieLossOptions {
  /** "rouge-l" (default) or a judge. */
  metric?: "rouge-l" | "judge";
  rouge?: RougeBatchOptions;
  judge?: JudgeManyOptions;
}

/**
 * Win/tie/loss of system A against each baseline system, item by item, by ROUGE-L F (a missing answer scores
 * 0) or by judge score (missing answers and unparsable judgments are dropped and counted). References that
 * neither system answered were not evaluated (a sampled run answers a subset): they are left out of that
 * comparison and counted in `unanswered`, never scored as ties.
 * @throws EvalInputError when `metric` is "judge" without `judge` options, or A predicts nothing.
 */
export async function evaluateCompare(
  references: readonly ReferenceQA[],
  predictionsA: Iterable<Prediction>,
  baselines: Iterable<Prediction>,
  options: CompareOptions = {},
): Promise<{ report: CompareReport; items: { id: string; a: string; b: string; scoreA: number | null; scoreB: number | null }[] }> {
  const metric = options.metric ?? "rouge-l";
  const aSystems = groupByModel(predictionsA);
  if (aSystems.size !== 1) throw new EvalInputError(`system A must be one model, found ${aSystems.size}`, { code: "MIXED_MODELS", field: "model" });
  const bSystems = groupByModel(baselines);
  const [aName] = [...aSystems.keys()];
  const all = new Map([...aSystems, ...bSystems]);
  let scores: Map<string, Map<string, number | null>>;
  let metricName: string;
  if (metric === "rouge-l") {
    const { items } = await evaluateRouge(references, [...all.values()].flatMap((m) => [...m.values()]), options.rouge ?? {});
    scores = new Map();
    for (const it of items) {
      if (!scores.has(it.model)) scores.set(it.model, new Map());
      scores.get(it.model)!.set(it.id, it.f);
    }
    metricName = "rouge-l";
  } else {
    if (!options.judge) throw new EvalInputError('metric "judge" needs judge options (a model)', { field: "judge" });
    const { judgments } = await evaluateJudge(references, [...all.values()].flatMap((m) => [...m.values()]), options.judge);
    scores = new Map();
    for (const j of judgments) {
      if (!scores.has(j.model)) scores.set(j.model, new Map());
      scores.get(j.model)!.set(j.id, j.ok ? j.score : null);
    }
    metricName = `judge:${(options.judge.rubric ?? overallRubric()).name}`;
  }
  const report: CompareReport = { kind: "compare", metric: metricName, comparisons: [] };
  const items: { id: string; a: string; b: string; scoreA: number | null; scoreB: number | null }[] = [];
  const sa = scores.get(aName!) ?? new Map<string, number | null>();
  for (const bName of bSystems.keys()) {
    if (bName === aName) continue;
    const sb = scores.get(bName) ?? new Map<string, number | null>();
    const answeredA = aSystems.get(aName!)!;
    const answeredB = bSystems.get(bName)!;
    const compared = references.filter((r) => answeredA.has(r.id) || answeredB.has(r.id));
    const va = compared.map((r) => sa.get(r.id) ?? null);
    const vb = compared.map((r) => sb.get(r.id) ?? null);
    compared.forEach((r, i) => items.push({ id: r.id, a: aName!, b: bName, scoreA: va[i]!, scoreB: vb[i]! }));
    // ROUGE F of different (L, m, n) with equal true value can differ in the last bit: ties within 1e-12.
    const tieEpsilon = options.tieEpsilon ?? (metric === "rouge-l" ? 1e-12 : 0);
    report.comparisons.push({ a: aName!, b: bName, result: winTieLoss(va, vb, { ...options, tieEpsilon }), unanswered: references.length - compared.length });
  }
  return { report, items };
}
