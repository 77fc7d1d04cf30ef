import { appendFile, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { ScoreModel } from "@sfmed/llm";
import { PreferencePairSchema, formatPath, type PreferencePair } from "@sfmed/schema";
import { ModelCallError, OptionError, type RejectedRow } from "./errors.js";
import { mergeScores, type MergeScoresResult } from "./merge-scores.js";

export interface ScoreProgress {
  /** Pair scorings done (a pair counts once per model), including ones restored from the checkpoint. */
  done: number;
  /** pairs × models */
  total: number;
  model: string;
}

/**
 * Score every pair's chosen and rejected response with each reward model (`/v1/score`), then join the scores
 * like {@link mergeScores}. With `checkpoint`, every finished batch is appended as per-model score rows
 * (`{model, id, chosen, rejected}`, the same format `mergeScores` reads) and a rerun scores only what is left.
 *
 * @param params.batchSize pairs per request (each pair sends two items). @default 16
 * @param params.concurrency requests in flight per model. @default 2
 * @throws ModelCallError when a call fails or returns the wrong number of scores.
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

  const pairs: PreferencePair[] = [];
  const lines: number[] = [];
  const invalid: RejectedRow[] = [];
  params.pairs.forEach((row, i) => {
    const line = params.pairLines?.[i] ?? i + 1;
    const r = PreferencePairSchema.safeParse(row);
    if (r.success) return void (pairs.push(r.data), lines.push(line));
    const issue = r.error.issues[0]!;
    const id = row && typeof row === "object" && typeof (row as { id?: unknown }).id === "string" ? (row as { id: string }).id : undefined;
    invalid.push({ line, file: params.pairFile, id, field: formatPath(issue.path) || undefined, reason: issue.message });
  });

  const rows: unknown[] = [];
  const have = new Set<string>();
  if (params.checkpoint) {
    let text = "";
    try {
      text = await readFile(params.checkpoint, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      await mkdir(path.dirname(params.checkpoint), { recursive: true });
    }
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as { model: string; id: string };
        if (names.includes(r.model) && !have.has(`${r.model}\u0000${r.id}`)) {
          have.add(`${r.model}\u0000${r.id}`);
          rows.push(r);
        }
      } catch {
        // a torn last line from an interrupted run: that batch is scored again
      }
    }
    if (text && !text.endsWith("\n")) await appendFile(params.checkpoint, "\n");
  }

  const total = pairs.length * params.models.length;
  let done = 0;
  for (const m of names) for (const p of pairs) if (have.has(`${m}\u0000${p.id}`)) done++;
  let chain = Promise.resolve();
  for (const model of params.models) {
    const todo = pairs.filter((p) => !have.has(`${model.name}\u0000${p.id}`));
    const batches: PreferencePair[][] = [];
    for (let i = 0; i < todo.length; i += batchSize) batches.push(todo.slice(i, i + batchSize));
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < batches.length) {
        if (params.signal?.aborted) throw params.signal.reason;
        const batch = batches[next++]!;
        const items = batch.flatMap((p) => [
          { prompt: p.prompt, response: p.chosen },
          { prompt: p.prompt, response: p.rejected },
        ]);
        let scores: number[];
        try {
          scores = await model.score(items, params.signal ? { signal: params.signal } : undefined);
        } catch (e) {
          throw new ModelCallError(`reward model ${model.name} failed: ${(e as Error)?.message ?? String(e)}`, model.name, e);
        }
        if (scores.length !== items.length) throw new ModelCallError(`reward model ${model.name} returned ${scores.length} scores for ${items.length} items`, model.name, undefined);
        const got = batch.map((p, k) => ({ model: model.name, id: p.id, chosen: scores[2 * k]!, rejected: scores[2 * k + 1]! }));
        rows.push(...got);
        done += batch.length;
        if (params.checkpoint) {
          const file = params.checkpoint;
          const text = got.map((r) => JSON.stringify(r) + "\n").join("");
          chain = chain.then(() => appendFile(file, text));
          await chain;
        }
        params.onProgress?.({ done, total, model: model.name });
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(concurrency, batches.length) }, () =>
        worker().catch((e: unknown) => {
          failure ??= e;
        }),
      ),
    );
    await chain;
    if (failure !== undefined) throw failure;
  }
  // Rows carry their model name; the source name only matters for rows without one.
  const merged = mergeScores({ pairs, pairLines: lines, pairFile: params.pairFile, sources: [{ name: "score", rows }] });
  merged.rejected.unshift(...invalid);
  // Keep the ensemble in the order the models were given, not the order batches finished.
  const order = new Map(names.map((n, i) => [n, i]));
  const perm = merged.models.map((m) => order.get(m)!);
  const inv = names.map((n) => merged.models.indexOf(n));
  if (perm.some((p, i) => p !== i)) {
    for (const p of merged.pairs) {
      const s = p.scores!;
      p.scores = { chosen: inv.map((k) => s.chosen[k]!), rejected: inv.map((k) => s.rejected[k]!), models: [...names] };
    }
    merged.models = [...names];
  }
  return merged;
}
