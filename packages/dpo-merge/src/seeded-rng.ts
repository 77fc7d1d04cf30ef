/** A uniform generator on [0, 1) with 2^-32 resolution. */
export type Rng = () => number;

/** 32-bit FNV-1a of a string, to derive independent streams from names. */
function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Deterministic xoshiro128** stream seeded from a number plus any keys (tensor name, model index), so each
 * tensor's random mask depends only on the seed and its own name, never on the order tensors are visited.
 */
export function seededRng(seed: number, ...keys: Array<string | number>): Rng {
  let h = fnv1a(keys.join("\u0000"), fnv1a(String(seed)));
  // splitmix32 expands the hash into the four words of state.
  const next = () => {
    h = (h + 0x9e3779b9) >>> 0;
    let z = h;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = next();
  let b = next();
  let c = next();
  let d = next();
  if ((a | b | c | d) === 0) a = 1;
  return () => {
    const r = Math.imul(Math.imul(b, 5) << 7 | Math.imul(b, 5) >>> 25, 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    return r / 4294967296;
  };
}
