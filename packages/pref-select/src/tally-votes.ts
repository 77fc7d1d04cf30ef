import { keyedRandom } from "./seeded-random.js";

/** One judge's decision on one candidate set. */
export interface JudgeVerdict {
  /** The judge model's name. */
  judge: string;
  /** The order this judge saw: `order[k]` is the original index of the response shown at position k. */
  order: number[];
  /** The original index of the picked response, or null when the output could not be read. */
  pick: number | null;
  /** Why no pick was read (invalid output). */
  error?: string | undefined;
  /** The judge's output, kept only when it could not be read (first 500 characters). */
  raw?: string | undefined;
}

export type Tally =
  | { ok: true; chosen: number; rejected: number; votes: number[] }
  | { ok: false; reason: string; votes: number[] };

/**
 * Turn K verdicts on N responses into a chosen and a rejected response.
 *
 * chosen: the response with the most votes, if no other response has as many and it has at least `minVotes`
 * (invalid outputs count as abstentions). rejected: the least-voted other response; a tie for least is broken
 * by a draw keyed on (seed, id), so it never depends on run order, or the set is dropped when
 * `rejectedTie` is "drop".
 */
export function tallyVotes(params: {
  id: string;
  n: number;
  verdicts: readonly JudgeVerdict[];
  minVotes: number;
  seed: number;
  rejectedTie: "seeded" | "drop";
}): Tally {
  const { n, verdicts, minVotes } = params;
  const votes = new Array<number>(n).fill(0);
  for (const v of verdicts) if (v.pick !== null) votes[v.pick]! += 1;
  const valid = votes.reduce((a, b) => a + b, 0);
  const top = Math.max(...votes);
  const leaders = votes.flatMap((c, i) => (c === top ? [i] : []));
  if (valid === 0) return { ok: false, reason: "no valid judge verdict", votes };
  if (leaders.length > 1) return { ok: false, reason: `tie for best between responses ${leaders.join(", ")} (${top} votes each)`, votes };
  if (top < minVotes) return { ok: false, reason: `best response has ${top} of the ${minVotes} votes needed`, votes };
  const chosen = leaders[0]!;
  let low = Infinity;
  for (let i = 0; i < n; i++) if (i !== chosen) low = Math.min(low, votes[i]!);
  const least = votes.flatMap((c, i) => (i !== chosen && c === low ? [i] : []));
  let rejected = least[0]!;
  if (least.length > 1) {
    if (params.rejectedTie === "drop") return { ok: false, reason: `tie for rejected between responses ${least.join(", ")}`, votes };
    rejected = least[Math.floor(keyedRandom(params.seed, `rejected\u0000${params.id}`)() * least.length)]!;
  }
  return { ok: true, chosen, rejected, votes };
}
