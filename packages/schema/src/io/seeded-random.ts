/**
 * mulberry32: a small, fast PRNG with a 32-bit state. The same seed gives the same floats in [0, 1) on every
 * platform, so sampling, shuffles and bootstrap resamples are reproducible from `--seed`.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * splitmix32: one 32-bit word of state stepped by the golden ratio and mixed by murmur3's finaliser. It yields
 * signed 32-bit integers rather than floats: dedup draws its MinHash permutations from it and dpo-merge expands a
 * hash into xoshiro128** state with it, both pinned by saved indexes and written merges.
 */
export function splitmix32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) | 0;
  };
}
