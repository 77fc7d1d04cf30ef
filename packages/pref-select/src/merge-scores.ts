import { PreferencePairSchema, formatPath, type PreferencePair } from "@sfmed/schema";
import type { RejectedRow } from "./errors.js";

/**
 * Scores from one file. Each row is either
 * - one model's scores of one pair: `{id, chosen: number, rejected: number, model?}` (the model is `model`,
 *   else the source's `name`), or
 * - a pair scored by several models, as trainer-py's `rm` score mode writes it: a PreferencePair (or just
 *   `{id, scores}`) with `scores: {chosen: number[], rejected: number[], models?: string[]}`; unnamed models
 *   are called `<name>#<k>`.
 */
export interface ScoreSource {
  /** Name of the source (usually the file's base name); names its models when the rows do not. */
  name: string;
  rows: readonly unknown[];
  file?: string | undefined;
  /** 1-based line of each row. @default index + 1 */
  lines?: readonly number[] | undefined;
}

/** A pair that some model did not score. */
export interface UnscoredPair {
  id: string;
  line: number;
  file?: string | undefined;
  missing: string[];
}

export interface MergeScoresResult {
  /** Pairs scored by every model, with `scores.{chosen, rejected, models}` in `models` order. */
  pairs: PreferencePair[];
  /** The ensemble: every model seen in the sources, in first-seen order. */
  models: string[];
  /** Pairs that lacked a score from at least one model (not in `pairs`). */
  unscored: UnscoredPair[];
  /** Input pairs and score rows that could not be read. */
  rejected: RejectedRow[];
  /** Score rows whose id matched no input pair, per source. */
  unmatched: Record<string, number>;
}

type Score = { chosen: number; rejected: number };

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

type Loc = { line: number; file?: string | undefined };

/** Scores by model then pair id; `models` in first-seen order; a model scoring an id twice is rejected. */
function scoreTable(rejected: RejectedRow[]) {
  const table = new Map<string, Map<string, Score>>();
  const models: string[] = [];
  const put = (model: string, id: string, s: Score, loc: Loc): void => {
    let m = table.get(model);
    if (!m) table.set(model, (m = new Map()));
    if (!models.includes(model)) models.push(model);
    if (m.has(id)) {
      rejected.push({ ...loc, id, field: "id", reason: `model ${model} scores id ${id} twice` });
      return;
    }
    m.set(id, s);
  };
  return { table, models, put };
}

type Put = ReturnType<typeof scoreTable>["put"];

/** The valid input pairs (first of each id) with their lines; the others go to `rejected`. */
function readPairs(rows: readonly unknown[], lines: readonly number[] | undefined, file: string | undefined, rejected: RejectedRow[]) {
  const pairs: { pair: PreferencePair; line: number }[] = [];
  const firstLine = new Map<string, number>();
  rows.forEach((row, i) => {
    const line = lines?.[i] ?? i + 1;
    const r = PreferencePairSchema.safeParse(row);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const id = row && typeof row === "object" && typeof (row as { id?: unknown }).id === "string" ? (row as { id: string }).id : undefined;
      rejected.push({ line, file, id, field: formatPath(issue.path) || undefined, reason: issue.message });
      return;
    }
    const first = firstLine.get(r.data.id);
    if (first !== undefined) {
      rejected.push({ line, file, id: r.data.id, field: "id", reason: `duplicate id (first at line ${first})` });
      return;
    }
    firstLine.set(r.data.id, line);
    pairs.push({ pair: r.data, line });
  });
  return pairs;
}

type ScoreRowShape = { id?: unknown; chosen?: unknown; rejected?: unknown; model?: unknown; scores?: { chosen?: unknown; rejected?: unknown; models?: unknown } };

/** A multi-model row (`scores: {chosen[], rejected[], models?}`): every model's score, or one rejection. */
function putScoresRow(o: ScoreRowShape & { id: string; scores: object }, src: ScoreSource, loc: Loc, put: Put, rejected: RejectedRow[]): void {
  const id = o.id;
  const { chosen, rejected: rej, models: names } = o.scores as NonNullable<ScoreRowShape["scores"]>;
  if (!Array.isArray(chosen) || !Array.isArray(rej) || chosen.length !== rej.length || chosen.length === 0) {
    rejected.push({ ...loc, id, field: "scores", reason: "scores.chosen and scores.rejected must be non-empty arrays of equal length" });
    return;
  }
  if (names !== undefined && (!Array.isArray(names) || names.length !== chosen.length)) {
    rejected.push({ ...loc, id, field: "scores.models", reason: "scores.models must name each model" });
    return;
  }
  const bad = [...chosen.map((v, k) => [v, `scores.chosen[${k}]`] as const), ...rej.map((v, k) => [v, `scores.rejected[${k}]`] as const)].find(([v]) => !finite(v));
  if (bad) {
    rejected.push({ ...loc, id, field: bad[1], reason: `score is not a finite number (${String(bad[0])})` });
    return;
  }
  chosen.forEach((c, k) => put(names ? String(names[k]) : `${src.name}#${k}`, id, { chosen: c as number, rejected: rej[k] as number }, loc));
}

/** One score row of a source: a single model's `{id, chosen, rejected, model?}` or a multi-model `scores` row. */
function putScoreRow(row: unknown, src: ScoreSource, loc: Loc, put: Put, rejected: RejectedRow[]): void {
  const o = row as ScoreRowShape;
  if (!o || typeof o !== "object" || typeof o.id !== "string" || !o.id) {
    rejected.push({ ...loc, field: "id", reason: "score row needs a string id" });
    return;
  }
  const id = o.id;
  if (o.scores && typeof o.scores === "object") {
    putScoresRow(o as ScoreRowShape & { id: string; scores: object }, src, loc, put, rejected);
    return;
  }
  for (const f of ["chosen", "rejected"] as const) {
    if (!finite(o[f])) {
      rejected.push({ ...loc, id, field: f, reason: `score is not a finite number (${o[f] === undefined ? "missing" : String(o[f])})` });
      return;
    }
  }
  put(typeof o.model === "string" && o.model ? o.model : src.name, id, { chosen: o.chosen as number, rejected: o.rejected as number }, loc);
}

/**
 * Join reward-model scores from several sources onto preference pairs by id. Every model must score every pair:
 * pairs without a score from some model are listed in `unscored` (with the missing models), never silently
 * dropped; malformed rows (non-finite scores, a model scoring an id twice) are listed in `rejected`.
 *
 * @param params.pairs input PreferencePairs; existing `scores` are replaced unless `append` is set.
 * @param params.append keep each pair's existing scores as the first models. @default false
 */
export function mergeScores(params: {
  pairs: readonly unknown[];
  pairLines?: readonly number[] | undefined;
  pairFile?: string | undefined;
  sources: readonly ScoreSource[];
  append?: boolean | undefined;
}): MergeScoresResult {
  const rejected: RejectedRow[] = [];
  const { table, models, put } = scoreTable(rejected);
  const pairs = readPairs(params.pairs, params.pairLines, params.pairFile, rejected);
  if (params.append) {
    for (const { pair, line } of pairs) {
      const s = pair.scores;
      if (!s) continue;
      s.chosen.forEach((c, k) => put(s.models?.[k] ?? `input#${k}`, pair.id, { chosen: c, rejected: s.rejected[k]! }, { line, file: params.pairFile }));
    }
  }
  for (const src of params.sources) src.rows.forEach((row, i) => putScoreRow(row, src, { line: src.lines?.[i] ?? i + 1, file: src.file }, put, rejected));

  const ids = new Set(pairs.map((p) => p.pair.id));
  const unmatched: Record<string, number> = {};
  for (const [model, m] of table) {
    let n = 0;
    for (const id of m.keys()) if (!ids.has(id)) n++;
    if (n) unmatched[model] = n;
  }
  const out: PreferencePair[] = [];
  const unscored: UnscoredPair[] = [];
  for (const { pair, line } of pairs) {
    const missing = models.filter((m) => !table.get(m)!.has(pair.id));
    if (missing.length || models.length === 0) {
      unscored.push({ id: pair.id, line, file: params.pairFile, missing: models.length ? missing : ["(no models)"] });
      continue;
    }
    const s = models.map((m) => table.get(m)!.get(pair.id)!);
    out.push({ ...pair, scores: { chosen: s.map((x) => x.chosen), rejected: s.map((x) => x.rejected), models: [...models] } });
  }
  rejected.sort((a, b) => (a.file ?? "").localeCompare(b.file ?? "") || a.line - b.line);
  return { pairs: out, models, unscored, rejected, unmatched };
}
