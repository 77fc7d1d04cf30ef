/**
 * Deterministic randomness keyed by strings, so every decision (a judge's shuffle, a tie-break) depends only
 * on the seed and the item it concerns, never on scheduling order, concurrency or resumption.
 * The PRNG itself is the project's one mulberry32 (`seededRandom` in @sfmed/schema).
 */
import { seededRandom } from "@sfmed/schema";

/** 32-bit FNV-1a over the UTF-16 code units of `s`, mixed with `seed`. */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Final avalanche (murmur3 fmix32): FNV alone leaves low bits weak for short keys.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

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
