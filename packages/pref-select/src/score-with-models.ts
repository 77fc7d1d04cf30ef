import type { ScoreModel } from "@sfmed/llm";
import { JsonlCheckpoint, PreferencePairSchema, forEachConcurrent, formatPath, type PreferencePair } from "@sfmed/schema";
import { ModelCallError, OptionError, type RejectedRow } from "./errors.js";
import { mergeScores, type MergeScoresResult } from "./merge-scores.js";

export interface ScoreProgress {
  /** Pair scorings done (a pair counts once per model), including ones restored from the checkpoint. */
  done: number;
  /** pairs × models */
  total: number;
  model: string;
}

/** One checkpoint line: a pair's scores from one model (the row format `mergeScores` reads). */
interface ScoreRow {
  model: string;
  id: string;
  chosen: number;
  rejected: number;
}

const rowKey = (model: string, id: string): string => `${model}\u0000${id}`;

/** The valid PreferencePairs with their lines, and the rows left out. */
function validPairs(rows: readonly unknown[], lineOf: (i: number) => number, file: string | undefined) {
  const pairs: PreferencePair[] = [];
  const lines: number[] = [];
  const invalid: RejectedRow[] = [];
  rows.forEach((row, i) => {
    const line = lineOf(i);
    const r = PreferencePairSchema.safeParse(row);
    if (r.success) return void (pairs.push(r.data), lines.push(line));
    const issue = r.error.issues[0]!;
    const id = row && typeof row === "object" && typeof (row as { id?: unknown }).id === "string" ? (row as { id: string }).id : undefined;
    invalid.push({ line, file, id, field: formatPath(issue.path) || undefined, reason: issue.message });
  });
  return { pairs, lines, invalid };
}

/** Score one batch of pairs with one model: chosen and rejected of each pair, in one request. */
async function scoreBatch(model: ScoreModel, batch: PreferencePair[], signal: AbortSignal | undefined): Promise<ScoreRow[]> {
  const items = batch.flatMap((p) => [
    { prompt: p.prompt, response: p.chosen },
    { prompt: p.prompt, response: p.rejected },
  ]);
  let scores: number[];
  try {
    scores = await model.score(items, signal ? { signal } : undefined);
  } catch (e) {
    throw new ModelCallError(`reward model ${model.name} failed: ${(e as Error)?.message ?? String(e)}`, model.name, e);
  }
  if (scores.length !== items.length) throw new ModelCallError(`reward model ${model.name} returned ${scores.length} scores for ${items.length} items`, model.name, undefined);
  return batch.map((p, k) => ({ model: model.name, id: p.id, chosen: scores[2 * k]!, rejected: scores[2 * k + 1]! }));
}

/** Put the ensemble in the order the models were given, not the order their batches finished. */
function orderModels(merged: MergeScoresResult, names: string[]): void {
  const order = new Map(names.map((n, i) => [n, i]));
  const perm = merged.models.map((m) => order.get(m)!);
  const inv = names.map((n) => merged.models.indexOf(n));
  if (perm.every((p, i) => p === i)) return;
  for (const p of merged.pairs) {
    const s = p.scores!;
    p.scores = { chosen: inv.map((k) => s.chosen[k]!), rejected: inv.map((k) => s.rejected[k]!), models: [...names] };
  }
  merged.models = [...names];
}

/**
 * Score every pair's chosen and rejected response with each reward model (`/v1/score`), then join the scores
 * like {@link mergeScores}. With `checkpoint`, every finished batch is appended as per-model score rows
 * (`{model, id, chosen, rejected}`, the same format `mergeScores` reads; the schema's `JsonlCheckpoint`) and a
 * rerun scores only what is left.
 *
 * @param params.batchSize pairs per request (each pair sends two items). @default 16
 * @param params.concurrency requests in flight per model. @default 2
 * @throws ModelCallError when a call fails or returns the wrong number of scores.
 * @throws CheckpointError (from @sfmed/schema) when a checkpoint line before the last is broken.
 */
export async function scoreWithModels(params: {
  /** PreferencePairs; rows that are not valid pairs are returned in `rejected` and not scored. */
  pairs: readonly unknown[];
  /** 1-based line of each pair. @default index + 1 */
  pairLines?: readonly number[] | undefined;
  pairFile?: string | undefined;
  models: readonly ScoreModel[];
  batchSize?: number | undefined;
  concurrency?: number | undefined;
  checkpoint?: string | undefined;
  onProgress?: ((p: ScoreProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}): Promise<MergeScoresResult> {
  const batchSize = params.batchSize ?? 16;
  const concurrency = params.concurrency ?? 2;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OptionError(`batchSize must be a positive integer, got ${batchSize}`, "batchSize");
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OptionError(`concurrency must be a positive integer, got ${concurrency}`, "concurrency");
  const names = params.models.map((m) => m.name);
  if (new Set(names).size !== names.length) throw new OptionError(`reward models must have distinct names, got [${names.join(", ")}]`, "models");
  const { pairs, lines, invalid } = validPairs(params.pairs, (i) => params.pairLines?.[i] ?? i + 1, params.pairFile);

  const checkpoint = params.checkpoint ? await JsonlCheckpoint.open<ScoreRow>(params.checkpoint, { key: (r) => rowKey(r.model, r.id) }) : undefined;
  // Rows of models that are not in this run stay in the file but are not used.
  const rows: ScoreRow[] = [...(checkpoint?.done.values() ?? [])].filter((r) => names.includes(r.model));
  const have = new Set(rows.map((r) => rowKey(r.model, r.id)));
  const total = pairs.length * params.models.length;
  let done = 0;
  for (const m of names) for (const p of pairs) if (have.has(rowKey(m, p.id))) done++;
  try {
    for (const model of params.models) {
      const todo = pairs.filter((p) => !have.has(rowKey(model.name, p.id)));
      const batches: PreferencePair[][] = [];
      for (let i = 0; i < todo.length; i += batchSize) batches.push(todo.slice(i, i + batchSize));
      await forEachConcurrent(
        batches,
        async (batch) => {
          const got = await scoreBatch(model, batch, params.signal);
          rows.push(...got);
          done += batch.length;
          if (checkpoint) await Promise.all(got.map((r) => checkpoint.append(r)));
          params.onProgress?.({ done, total, model: model.name });
        },
        { concurrency, signal: params.signal },
      );
    }
  } finally {
    await checkpoint?.close();
  }
  // Rows carry their model name; the source name only matters for rows without one.
  const merged = mergeScores({ pairs, pairLines: lines, pairFile: params.pairFile, sources: [{ name: "score", rows }] });
  merged.rejected.unshift(...invalid);
  orderModels(merged, names);
  return merged;
}
