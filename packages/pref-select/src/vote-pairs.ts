import type { ChatModel, ChatOptions } from "@sfmed/llm";
import { forEachConcurrent, formatPath, hashString, type PreferencePair } from "@sfmed/schema";
import { agreementStats, type AgreementStats } from "./agreement-stats.js";
import { CandidateSetSchema, type CandidateSet } from "./candidate-set.js";
import { ModelCallError, OptionError, type RejectedRow } from "./errors.js";
import { candidateLabels, defaultJudgePrompt, type JudgePromptBuilder } from "./judge-prompt.js";
import { parseJudgePick } from "./parse-judge-pick.js";
import { keyedRandom, permutation } from "./seeded-random.js";
import { tallyVotes, type JudgeVerdict } from "./tally-votes.js";
import { openVoteCheckpoint } from "./vote-checkpoint.js";

export interface VoteProgress {
  /** Candidate sets finished (including ones restored from the checkpoint). */
  done: number;
  total: number;
  /** Judge calls made in this run. */
  calls: number;
  /** Sets restored from the checkpoint. */
  resumed: number;
}

export interface VoteOptions {
  /** Candidate sets ({id, prompt, responses}); invalid rows are returned in `rejected`. */
  items: readonly unknown[];
  /** 1-based line of each item (parallel to `items`). @default index + 1 */
  lines?: readonly number[] | undefined;
  file?: string | undefined;
  /** The judges; each sees every set once, in its own shuffled order. */
  judges: readonly ChatModel[];
  /** Seed of the per-judge shuffles and of rejected tie-breaks. @default 0 */
  seed?: number | undefined;
  /** Votes the best response needs. @default ⌊K/2⌋ + 1 (a strict majority of the K judges) */
  minVotes?: number | undefined;
  /** What to do when several responses tie for fewest votes. @default "seeded" */
  rejectedTie?: "seeded" | "drop" | undefined;
  /** Judge calls in flight at once. @default 4 */
  concurrency?: number | undefined;
  /** Options for every judge call. @default { temperature: 0, maxTokens: 1024 } */
  chatOptions?: ChatOptions | undefined;
  /** Builds the judge's messages. @default defaultJudgePrompt */
  judgePrompt?: JudgePromptBuilder | undefined;
  /** JSON-lines checkpoint: finished sets are appended and skipped when the run is resumed. */
  checkpoint?: string | undefined;
  onProgress?: ((p: VoteProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** A set that produced no pair, and why. */
export interface DroppedSet {
  id: string;
  line: number;
  reason: string;
  votes: number[];
}

export interface VoteResult {
  /** One pair per decided set, in input order; `meta.vote` records votes, orders and picks. */
  pairs: PreferencePair[];
  dropped: DroppedSet[];
  rejected: RejectedRow[];
  agreement: AgreementStats;
  summary: { input: number; valid: number; rejected: number; pairs: number; dropped: number; calls: number; resumed: number; judges: string[]; seed: number; minVotes: number };
}

/** The order judge `j` sees set `id` in: a permutation keyed by (seed, id, j), independent of run order. */
export function judgeOrder(params: { seed: number; id: string; judge: number; n: number }): number[] {
  return permutation(params.n, keyedRandom(params.seed, `order\u0000${params.id}\u0000${params.judge}`));
}

function contentKey(s: CandidateSet): string {
  return hashString(JSON.stringify([s.prompt, s.responses])).toString(16);
}

interface ParsedSet {
  set: CandidateSet;
  line: number;
  key: string;
}

/** The valid candidate sets (first of each id) and the rows left out, with line and reason. */
function parseSets(options: VoteOptions): { sets: ParsedSet[]; rejected: RejectedRow[] } {
  const lineOf = (i: number): number => options.lines?.[i] ?? i + 1;
  const rejected: RejectedRow[] = [];
  const sets: ParsedSet[] = [];
  const seen = new Map<string, number>();
  options.items.forEach((row, i) => {
    const r = CandidateSetSchema.safeParse(row);
    const id = row && typeof row === "object" && typeof (row as { id?: unknown }).id === "string" ? (row as { id: string }).id : undefined;
    if (!r.success) {
      const issue = r.error.issues[0]!;
      rejected.push({ line: lineOf(i), file: options.file, id, field: formatPath(issue.path) || undefined, reason: issue.message });
      return;
    }
    const first = seen.get(r.data.id);
    if (first !== undefined) {
      rejected.push({ line: lineOf(i), file: options.file, id, field: "id", reason: `duplicate id (first at line ${first})` });
      return;
    }
    seen.set(r.data.id, lineOf(i));
    sets.push({ set: r.data, line: lineOf(i), key: contentKey(r.data) });
  });
  return { sets, rejected };
}

/** One judge's verdict on one set, in the judge's own seeded order. */
async function judgeOne(set: CandidateSet, j: number, ctx: { judges: readonly ChatModel[]; seed: number; buildPrompt: JudgePromptBuilder; chatOptions: ChatOptions }): Promise<JudgeVerdict> {
  const judge = ctx.judges[j]!;
  const n = set.responses.length;
  const order = judgeOrder({ seed: ctx.seed, id: set.id, judge: j, n });
  const messages = ctx.buildPrompt({ prompt: set.prompt, responses: order.map((o) => set.responses[o]!), labels: candidateLabels(n) });
  let text: string;
  try {
    text = (await judge.chat(messages, ctx.chatOptions)).texts[0] ?? "";
  } catch (e) {
    throw new ModelCallError(`judge ${judge.name} failed on set ${set.id}: ${(e as Error)?.message ?? String(e)}`, judge.name, e);
  }
  const pick = parseJudgePick({ text, n });
  return pick.ok ? { judge: judge.name, order, pick: order[pick.position]! } : { judge: judge.name, order, pick: null, error: pick.reason, raw: text.slice(0, 500) };
}

/** Tally every set: decided sets become pairs (input order), the others are dropped with a reason. */
function buildPairs(sets: ParsedSet[], verdicts: JudgeVerdict[][], opts: { seed: number; minVotes: number; rejectedTie: "seeded" | "drop" }) {
  const pairs: PreferencePair[] = [];
  const dropped: DroppedSet[] = [];
  const chosenIdx: (number | null)[] = [];
  sets.forEach(({ set, line }, i) => {
    const vs = verdicts[i]!;
    const t = tallyVotes({ id: set.id, n: set.responses.length, verdicts: vs, minVotes: opts.minVotes, seed: opts.seed, rejectedTie: opts.rejectedTie });
    if (!t.ok) {
      dropped.push({ id: set.id, line, reason: t.reason, votes: t.votes });
      chosenIdx.push(null);
      return;
    }
    chosenIdx.push(t.chosen);
    if (set.responses[t.chosen] === set.responses[t.rejected]) {
      dropped.push({ id: set.id, line, reason: "chosen and rejected responses are identical", votes: t.votes });
      return;
    }
    pairs.push({
      id: set.id,
      ...(set.source !== undefined ? { source: set.source } : {}),
      prompt: set.prompt,
      chosen: set.responses[t.chosen]!,
      rejected: set.responses[t.rejected]!,
      meta: { ...set.meta, vote: { chosen: t.chosen, rejected: t.rejected, votes: t.votes, verdicts: vs } },
    });
  });
  return { pairs, dropped, chosenIdx };
}

/**
 * Build preference pairs by a vote of K judges over N responses per prompt: each judge sees the responses in
 * its own seeded order and names the best; the majority pick becomes `chosen` and the least-voted other
 * response `rejected` (see `tallyVotes`). Sets with ties, too few valid votes or identical chosen/rejected
 * texts are dropped with a reason. Judge calls run `concurrency` at a time; with `checkpoint`, finished sets
 * are saved as they complete and a rerun continues where the last one stopped.
 *
 * @throws ModelCallError when a judge call fails (finished sets stay in the checkpoint).
 * @throws OptionError for an empty judge list or a non-positive concurrency.
 * @throws CheckpointMismatchError when the checkpoint was written with another seed or judge list, or is broken.
 */
export async function votePairs(options: VoteOptions): Promise<VoteResult> {
  const judges = options.judges;
  if (judges.length === 0) throw new OptionError("at least one judge is needed", "judges");
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OptionError(`concurrency must be a positive integer, got ${concurrency}`, "concurrency");
  const seed = options.seed ?? 0;
  const k = judges.length;
  const minVotes = options.minVotes ?? Math.floor(k / 2) + 1;
  const judgeNames = judges.map((j) => j.name);
  const { sets, rejected } = parseSets(options);
  const checkpoint = options.checkpoint ? await openVoteCheckpoint(options.checkpoint, { seed, judges: judgeNames }) : undefined;
  const verdicts: JudgeVerdict[][] = sets.map(() => new Array<JudgeVerdict>(k));
  const remaining = new Array<number>(sets.length).fill(k);
  const count = { done: 0, resumed: 0, calls: 0 };
  sets.forEach((s, i) => {
    const e = checkpoint?.done.get(s.set.id);
    if (e && e.key === s.key && e.verdicts.length === k) {
      verdicts[i] = e.verdicts;
      remaining[i] = 0;
      count.done++;
      count.resumed++;
    }
  });
  const progress = (): void => options.onProgress?.({ total: sets.length, ...count });
  progress();

  const tasks: [number, number][] = [];
  sets.forEach((_, i) => {
    if (remaining[i]! > 0) for (let j = 0; j < k; j++) tasks.push([i, j]);
  });
  const ctx = {
    judges,
    seed,
    buildPrompt: options.judgePrompt ?? defaultJudgePrompt,
    chatOptions: { temperature: 0, maxTokens: 1024, ...options.chatOptions, ...(options.signal ? { signal: options.signal } : {}) },
  };
  try {
    await forEachConcurrent(
      tasks,
      async ([i, j]) => {
        verdicts[i]![j] = await judgeOne(sets[i]!.set, j, ctx);
        count.calls++;
        if (--remaining[i]! > 0) return;
        count.done++;
        if (checkpoint) await checkpoint.append({ id: sets[i]!.set.id, key: sets[i]!.key, verdicts: verdicts[i]! });
        progress();
      },
      { concurrency, signal: options.signal },
    );
  } finally {
    await checkpoint?.close();
  }

  const { pairs, dropped, chosenIdx } = buildPairs(sets, verdicts, { seed, minVotes, rejectedTie: options.rejectedTie ?? "seeded" });
  const agreement = agreementStats({ items: verdicts, chosen: chosenIdx, judges: judgeNames });
  const { calls, resumed } = count;
  return {
    pairs,
    dropped,
    rejected,
    agreement,
    summary: { input: options.items.length, valid: sets.length, rejected: rejected.length, pairs: pairs.length, dropped: dropped.length, calls, resumed, judges: judgeNames, seed, minVotes },
  };
}
