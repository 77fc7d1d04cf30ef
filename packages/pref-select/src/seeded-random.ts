/**
 * Deterministic randomness keyed by strings, so every decision (a judge's shuffle, a tie-break) depends only
 * on the seed and the item it concerns, never on scheduling order, concurrency or resumption.
 * The PRNG and the keyed hash are the project's own (`seededRandom`, mulberry32, and `hashString` in @sfmed/schema).
 */
import { hashString, seededRandom } from "@sfmed/schema";

/** A PRNG for one keyed decision: the same (seed, key) always gives the same stream. */
export function keyedRandom(seed: number, key: string): () => number {
  return seededRandom(hashString(key, seed));
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates) drawn from `rand`. */
export function permutation(n: number, rand: () => number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}
