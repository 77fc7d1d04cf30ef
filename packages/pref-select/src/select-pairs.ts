import { PreferencePairSchema, formatPath, type PreferencePair } from "@sfmed/schema";
import { OptionError, type RejectedRow } from "./errors.js";
import { preferenceStrength } from "./preference-strength.js";

/** What happened to a pair in selection. */
export type SelectAction = "kept" | "flipped" | "dropped";

export interface SelectOptions {
  /** Input rows, each expected to be a PreferencePair with `scores` from every reward model. */
  pairs: readonly unknown[];
  /** 1-based line of each row in its file (parallel to `pairs`). @default index + 1 */
  lines?: readonly number[] | undefined;
  /** File name used in rejection reasons. */
  file?: string | undefined;
  /** Fraction of pairs, lowest strength first, whose chosen/rejected are swapped. @default 0.1 */
  flip?: number | undefined;
  /** Fraction of pairs, highest strength first, that are left out. @default 0.1 */
  drop?: number | undefined;
  /**
   * Expected reward models: a count, or names (then every row that names its models must name this set, in
   * any order). @default the most common model count among the rows (ties: the larger count)
   */
  models?: number | readonly string[] | undefined;
  /** Order of `pairs` in the result: input order, or ascending strength (ties by id). @default "input" */
  order?: "input" | "strength" | undefined;
}

/** Per-pair numbers for reports, one per valid row. */
export interface StrengthRow {
  id: string;
  /** μ before any flip (from the pair's original orientation). */
  strength: number;
  strengthStd: number;
  action: SelectAction;
  /** 0-based position in the ascending-strength order. */
  rank: number;
}

export interface SelectSummary {
  input: number;
  valid: number;
  rejected: number;
  kept: number;
  flipped: number;
  dropped: number;
  models: number;
  modelNames?: string[] | undefined;
  flip: number;
  drop: number;
  /** Highest μ among flipped pairs (null when none). */
  flipMaxStrength: number | null;
  /** Lowest μ among dropped pairs (null when none). */
  dropMinStrength: number | null;
}

export interface SelectResult {
  /** Kept and flipped pairs, with `meta.strength`, `meta.strengthStd`, `meta.action` and `margin`. */
  pairs: PreferencePair[];
  /** The dropped (strongest) pairs, annotated the same way with `meta.action = "dropped"`. */
  dropped: PreferencePair[];
  /** Rows left out because they could not be scored, each with its line and reason. */
  rejected: RejectedRow[];
  /** Every valid row in ascending-strength order. */
  strengths: StrengthRow[];
  summary: SelectSummary;
}

/** Small absolute slack so that fractions written in decimal (0.29·100) round the way they read. */
const EPS = 1e-9;

/**
 * How many of `n` pairs a fraction selects: ⌊fraction·n⌋ (plus a 1e-9 slack against binary rounding).
 * With the default 0.1 nothing is flipped or dropped below n = 10; n = 10..19 flips and drops one each.
 */
export function selectionCount(params: { fraction: number; n: number }): number {
  return Math.floor(params.fraction * params.n + EPS);
}

function checkFraction(v: number, name: string): void {
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new OptionError(`${name} must be a fraction in [0, 1], got ${v}`, name);
}

interface Candidate {
  index: number;
  line: number;
  pair: PreferencePair;
  scores: { chosen: number[]; rejected: number[]; models?: string[] | undefined };
}

function nonFinite(list: unknown, field: string): { field: string; reason: string } | null {
  if (!Array.isArray(list)) return { field, reason: `${field} must be an array of numbers` };
  for (let i = 0; i < list.length; i++) {
    const v: unknown = list[i];
    if (typeof v !== "number") return { field: `${field}[${i}]`, reason: `score is missing (${v === null ? "null" : typeof v})` };
    if (!Number.isFinite(v)) return { field: `${field}[${i}]`, reason: `score is not finite (${v})` };
  }
  return null;
}

function idOf(row: unknown): string | undefined {
  if (row && typeof row === "object" && typeof (row as { id?: unknown }).id === "string") return (row as { id: string }).id;
  return undefined;
}

/** Pass 1: shape, scores and ids; the rows that fail go to `reject`. */
function readCandidates(options: SelectOptions, lineOf: (i: number) => number, reject: (i: number, reason: string, field?: string) => void): Candidate[] {
  const candidates: Candidate[] = [];
  const seen = new Map<string, number>();
  options.pairs.forEach((row, i) => {
    const scores = row && typeof row === "object" ? (row as { scores?: unknown }).scores : undefined;
    if (scores === undefined || scores === null) return reject(i, "missing reward-model scores", "scores");
    if (typeof scores !== "object") return reject(i, "scores must be an object", "scores");
    const bad = nonFinite((scores as { chosen?: unknown }).chosen, "scores.chosen") ?? nonFinite((scores as { rejected?: unknown }).rejected, "scores.rejected");
    if (bad) return reject(i, bad.reason, bad.field);
    const parsed = PreferencePairSchema.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return reject(i, issue.message, formatPath(issue.path) || undefined);
    }
    const pair = parsed.data;
    const s = pair.scores!;
    if (s.chosen.length === 0) return reject(i, "no reward-model scores", "scores.chosen");
    if (s.models && s.models.length !== s.chosen.length) {
      return reject(i, `${s.models.length} model names for ${s.chosen.length} scores`, "scores.models");
    }
    if (s.models && new Set(s.models).size !== s.models.length) return reject(i, "a model is named twice", "scores.models");
    const first = seen.get(pair.id);
    if (first !== undefined) return reject(i, `duplicate id (first at line ${first})`, "id");
    seen.set(pair.id, lineOf(i));
    candidates.push({ index: i, line: lineOf(i), pair, scores: s });
  });
  return candidates;
}

/** The ensemble size: the option, the names given, or the model count most pairs have (ties: the larger). */
function ensembleSize(models: SelectOptions["models"], candidates: readonly Candidate[]): { m: number; names: string[] | undefined } {
  if (Array.isArray(models)) return { m: models.length, names: [...(models as readonly string[])] };
  if (typeof models === "number") return { m: models, names: undefined };
  const counts = new Map<number, number>();
  for (const c of candidates) counts.set(c.scores.chosen.length, (counts.get(c.scores.chosen.length) ?? 0) + 1);
  let m = 0;
  let best = -1;
  for (const [k, v] of counts) if (v > best || (v === best && k > m)) [m, best] = [k, v];
  return { m, names: undefined };
}

/** Pass 2: every pair must be scored by the same ensemble (count, and names where given). */
function sameEnsemble(candidates: readonly Candidate[], models: SelectOptions["models"], file: string | undefined, rejected: RejectedRow[]) {
  const { m, names: given } = ensembleSize(models, candidates);
  let names = given;
  const nameKey = (xs: readonly string[]): string => JSON.stringify([...xs].sort());
  let namesFrom: number | undefined;
  const ok: Candidate[] = [];
  for (const c of candidates) {
    const k = c.scores.chosen.length;
    if (k !== m) {
      rejected.push({ line: c.line, file, id: c.pair.id, field: "scores.chosen", reason: `${k} model scores, expected ${m}` });
      continue;
    }
    if (c.scores.models) {
      if (!names) {
        names = [...c.scores.models];
        namesFrom = c.line;
      } else if (nameKey(names) !== nameKey(c.scores.models)) {
        const src = namesFrom !== undefined ? `line ${namesFrom}` : "the models option";
        rejected.push({ line: c.line, file, id: c.pair.id, field: "scores.models", reason: `models [${c.scores.models.join(", ")}] differ from [${names.join(", ")}] (${src})` });
        continue;
      }
    }
    ok.push(c);
  }
  return { ok, m, names };
}

/** Pass 3: strength, sort, flip the weakest and drop the strongest. */
function rankAndSelect(ok: readonly Candidate[], flip: number, drop: number, order: SelectOptions["order"]) {
  const measured = ok.map((c) => ({ c, s: preferenceStrength(c.scores) }));
  const sorted = [...measured].sort((a, b) => a.s.mean - b.s.mean || (a.c.pair.id < b.c.pair.id ? -1 : a.c.pair.id > b.c.pair.id ? 1 : 0));
  const n = sorted.length;
  const nFlip = selectionCount({ fraction: flip, n });
  const nDrop = selectionCount({ fraction: drop, n });
  const strengths: StrengthRow[] = [];
  const out = new Map<number, { pair: PreferencePair; action: SelectAction }>();
  sorted.forEach(({ c, s }, rank) => {
    const action: SelectAction = rank < nFlip ? "flipped" : rank >= n - nDrop ? "dropped" : "kept";
    strengths.push({ id: c.pair.id, strength: s.mean, strengthStd: s.std, action, rank });
    out.set(c.index, { pair: annotate(c.pair, s.mean, s.std, action), action });
  });
  const inOrder = order === "strength" ? sorted.map(({ c }) => c.index) : ok.map((c) => c.index);
  const pairs: PreferencePair[] = [];
  const dropped: PreferencePair[] = [];
  for (const i of inOrder) {
    const o = out.get(i)!;
    (o.action === "dropped" ? dropped : pairs).push(o.pair);
  }
  return { pairs, dropped, strengths, n, nFlip, nDrop };
}

/**
 * Clean preference pairs with a reward-model ensemble: compute each pair's strength μ (mean of
 * r_m(chosen) − r_m(rejected) over the M models) and σ (population std), sort by μ ascending with ties broken
 * by id, swap chosen and rejected for the lowest ⌊flip·n⌋ pairs and leave out the highest ⌊drop·n⌋.
 *
 * Flipping the lowest-strength pairs follows Secrets of RLHF Part II (Wang et al. 2024), which flips the pairs
 * its reward-model ensemble disagrees with; dropping the strongest pairs is SF-Med's rule (Part II keeps them,
 * with soft labels). Because flip + drop ≤ 1 and ⌊a⌋ + ⌊b⌋ ≤ ⌊a + b⌋, the flipped and dropped sets never overlap.
 *
 * Rows that are not valid pairs, lack scores, carry non-finite scores, have a model count (or model names)
 * other than the ensemble's, or repeat an earlier id are returned in `rejected` with line and reason.
 *
 * @throws OptionError when `flip` or `drop` is outside [0, 1] or `flip + drop > 1`.
 */
export function selectPairs(options: SelectOptions): SelectResult {
  const flip = options.flip ?? 0.1;
  const drop = options.drop ?? 0.1;
  checkFraction(flip, "flip");
  checkFraction(drop, "drop");
  if (flip + drop > 1 + EPS) throw new OptionError(`flip + drop must be at most 1, got ${flip} + ${drop}`, "flip");
  const file = options.file;
  const lineOf = (i: number): number => options.lines?.[i] ?? i + 1;
  const rejected: RejectedRow[] = [];
  const reject = (i: number, reason: string, field?: string): void => {
    rejected.push({ line: lineOf(i), file, id: idOf(options.pairs[i]), field, reason });
  };
  const candidates = readCandidates(options, lineOf, reject);
  const { ok, m, names } = sameEnsemble(candidates, options.models, file, rejected);
  rejected.sort((a, b) => a.line - b.line);
  const { pairs, dropped, strengths, n, nFlip, nDrop } = rankAndSelect(ok, flip, drop, options.order);
  const flipped = strengths.filter((r) => r.action === "flipped");
  const droppedRows = strengths.filter((r) => r.action === "dropped");
  return {
    pairs,
    dropped,
    rejected,
    strengths,
    summary: {
      input: options.pairs.length,
      valid: n,
      rejected: rejected.length,
      kept: n - nFlip - nDrop,
      flipped: nFlip,
      dropped: nDrop,
      models: m,
      modelNames: names,
      flip,
      drop,
      flipMaxStrength: flipped.length ? flipped[flipped.length - 1]!.strength : null,
      dropMinStrength: droppedRows.length ? droppedRows[0]!.strength : null,
    },
  };
}

/** Write strength, std, action and margin onto a pair; a flipped pair swaps texts and scores and negates μ. */
function annotate(pair: PreferencePair, mean: number, std: number, action: SelectAction): PreferencePair {
  const flipped = action === "flipped";
  const strength = flipped ? -mean : mean;
  const s = pair.scores!;
  const scores = flipped ? { ...s, chosen: s.rejected, rejected: s.chosen } : s;
  return {
    ...pair,
    chosen: flipped ? pair.rejected : pair.chosen,
    rejected: flipped ? pair.chosen : pair.rejected,
    scores,
    margin: strength,
    meta: { ...pair.meta, strength, strengthStd: std, action },
  };
}
