// Kept apart from @sfmed/schema's `seededRandom` (mulberry32 from one number): DARE masks need streams keyed by
// (seed, tensor name, model index), and the Wasm `bernoulli` kernel in bf16-kernels.ts runs exactly this
// xoshiro128** generator, so changing it would change every DARE merge already written.
import { splitmix32 } from "@sfmed/schema/io";

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
  const s = seededState(seed, ...keys);
  let a = s[0]!;
  let b = s[1]!;
  let c = s[2]!;
  let d = s[3]!;
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

/**
 * The four xoshiro128** state words {@link seededRng} starts from, for kernels that run the same stream
 * elsewhere (the Wasm mask generator).
 */
export function seededState(seed: number, ...keys: Array<string | number>): Uint32Array {
  // splitmix32 expands the hash into the four words of state (Uint32Array stores its signed words unsigned).
  const next = splitmix32(fnv1a(keys.join("\u0000"), fnv1a(String(seed))));
  const s = new Uint32Array([next(), next(), next(), next()]);
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
  return s;
}
