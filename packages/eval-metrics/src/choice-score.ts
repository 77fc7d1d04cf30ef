import type { ChoiceQuestion, Prediction } from "@sfmed/schema";
import { explainChoice, type ChoiceOptions } from "./choice-extract.js";
import { EvalInputError } from "./errors.js";

/** Accuracy of one group of questions. Abstentions count as wrong in `accuracy`. */
export interface ChoiceGroupScore {
  n: number;
  correct: number;
  accuracy: number;
  abstained: number;
  abstentionRate: number;
}

export interface ChoiceItemResult {
  id: string;
  subject: string | undefined;
  source: string | undefined;
  gold: string[];
  predicted: string[];
  correct: boolean;
  /** Nothing could be read from the answer (or there was no prediction). */
  abstained: boolean;
  /** The extraction rule that decided, or "missing" when no prediction had this id. */
  rule: string;
}

export interface ChoiceScores extends ChoiceGroupScore {
  /** Questions with no prediction of the same id (counted as abstentions). */
  missing: number;
  /** Predictions whose id matches no question (ignored). */
  unmatched: number;
  bySubject: Record<string, ChoiceGroupScore>;
  bySource: Record<string, ChoiceGroupScore>;
  items: ChoiceItemResult[];
}

export interface ScoreChoicesOptions {
  /**
   * Whether a question takes several answers. Default: more than one gold letter, or `meta.multiple === true`,
   * or a `meta.question_type` naming a multiple-answer type (多选/多项/Multiple Choice).
   */
  isMultiple?: (q: ChoiceQuestion) => boolean;
  /** Replace the extractor (e.g. to score a published rule for comparison). */
  extract?: (response: string, options: ChoiceOptions, multiple: boolean) => string[];
  /**
   * Decisions made beforehand (e.g. by `decideChoices` with an LLM fallback): the letters and the path that
   * decided, or undefined to use the rules. Takes precedence over `extract`.
   */
  decide?: (question: ChoiceQuestion, prediction: Prediction) => { letters: readonly string[]; rule: string } | undefined;
}

export function defaultIsMultiple(q: ChoiceQuestion): boolean {
  if (q.answer.length > 1 || q.meta?.["multiple"] === true) return true;
  const t = q.meta?.["question_type"];
  return typeof t === "string" && /多选|多项|multiple\s*choice/i.test(t);
}

function group(): ChoiceGroupScore {
  return { n: 0, correct: 0, accuracy: 0, abstained: 0, abstentionRate: 0 };
}
function add(g: ChoiceGroupScore, r: ChoiceItemResult) {
  g.n++;
  if (r.correct) g.correct++;
  if (r.abstained) g.abstained++;
}
function finish(g: ChoiceGroupScore) {
  g.accuracy = g.n ? g.correct / g.n : 0;
  g.abstentionRate = g.n ? g.abstained / g.n : 0;
}

/**
 * Score one model's answers to multiple-choice questions: extract letters from each prediction (matched by
 * `id`), compare with the gold set exactly (multi-answer questions need the whole set), and report accuracy
 * overall, per `subject` and per `source`, with the abstention rate beside it.
 * @throws EvalInputError when predictions come from several models or repeat an id.
 */
export function scoreChoices(questions: readonly ChoiceQuestion[], predictions: readonly Prediction[], options: ScoreChoicesOptions = {}): ChoiceScores {
  const models = new Set(predictions.map((p) => p.model));
  if (models.size > 1) throw new EvalInputError(`predictions come from ${models.size} models (${[...models].join(", ")}); score one model at a time`, { code: "MIXED_MODELS", field: "model" });
  const byId = new Map<string, Prediction>();
  for (const p of predictions) {
    if (byId.has(p.id)) throw new EvalInputError(`prediction id "${p.id}" appears twice`, { code: "DUPLICATE_ID", field: "id" });
    byId.set(p.id, p);
  }
  const isMultiple = options.isMultiple ?? defaultIsMultiple;
  const total = group();
  const bySubject: Record<string, ChoiceGroupScore> = {};
  const bySource: Record<string, ChoiceGroupScore> = {};
  const items: ChoiceItemResult[] = [];
  let missing = 0;
  const seen = new Set<string>();
  for (const q of questions) {
    seen.add(q.id);
    const p = byId.get(q.id);
    const gold = [...new Set(q.answer)].sort();
    let predicted: string[] = [];
    let rule = "missing";
    const decided = p && options.decide?.(q, p);
    if (!p) missing++;
    else if (decided) {
      predicted = [...new Set(decided.letters)].sort();
      rule = decided.rule;
    } else if (options.extract) {
      predicted = [...new Set(options.extract(p.output, q.options, isMultiple(q)))].sort();
      rule = "custom";
    } else {
      const e = explainChoice(p.output, q.options, { multiple: isMultiple(q), question: q.question });
      predicted = e.letters;
      rule = e.rule;
    }
    const r: ChoiceItemResult = {
      id: q.id,
      subject: q.subject,
      source: q.source,
      gold,
      predicted,
      correct: predicted.length === gold.length && predicted.every((l, i) => l === gold[i]),
      abstained: predicted.length === 0,
      rule,
    };
    items.push(r);
    add(total, r);
    if (q.subject !== undefined) add((bySubject[q.subject] ??= group()), r);
    if (q.source !== undefined) add((bySource[q.source] ??= group()), r);
  }
  finish(total);
  Object.values(bySubject).forEach(finish);
  Object.values(bySource).forEach(finish);
  const unmatched = predictions.filter((p) => !seen.has(p.id)).length;
  return { ...total, missing, unmatched, bySubject, bySource, items };
}
