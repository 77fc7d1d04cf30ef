// The hot loop of the package: code points → shingle hashes → MinHash signature → band keys.
// Everything is 32-bit integer arithmetic (Math.imul, |0) over typed arrays so V8 keeps it in registers.
// Benchmarked by bench/kernel.ts.

/** Version tag of the k-permutation scheme below (`sketch: "minhash"`); saved indexes record it. */
export const AFFINE_SCHEME = "cp-murmur32+affine32-v1";

/**
 * Version tag of the default signature scheme (code-point murmur3 shingles, one-permutation hashing with optimal
 * densification, see minhash-oph.ts); saved indexes record it and an index built with another scheme is refused.
 */
export const HASH_SCHEME = "cp-murmur32+oph-dens32-v2";

/** Minimum of an empty signature slot: the largest signed 32-bit integer. */
export const SIG_EMPTY = 0x7fffffff;

/** murmur3's 32-bit finaliser: full avalanche, a bijection on 32 bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Write the code points of `s` into `out` (grown when too small) and return [count, out].
 */
export function codePointsInto(s: string, out: Int32Array): [number, Int32Array] {
  if (out.length < s.length) out = new Int32Array(Math.max(s.length, out.length * 2));
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out[n++] = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
        continue;
      }
    }
    out[n++] = c;
  }
  return [n, out];
}

/** Hash of `len` code points starting at `start` (murmur3-style body, length mixed in, fmix32 tail). */
function hashRun(cps: Int32Array, start: number, len: number): number {
  let h = 0x2f6b3c9d ^ len;
  for (let j = start, end = start + len; j < end; j++) {
    let k = Math.imul(cps[j]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h);
}

/**
 * Hash every `n`-gram of `cps[0..len)` into `out`, then sort and drop repeats in place. A text shorter than `n`
 * is one shingle; an empty text has none. Returns the number of distinct shingle hashes (the set size).
 * `out` must hold at least max(1, len - n + 1) values.
 */
export function shingleHashesInto(cps: Int32Array, len: number, n: number, out: Int32Array): number {
  const m = shingleRunInto(cps, len, n, out);
  if (m <= 1) return m;
  out.subarray(0, m).sort();
  let u = 1;
  for (let i = 1; i < m; i++) if (out[i] !== out[u - 1]) out[u++] = out[i]!;
  return u;
}

/**
 * As {@link shingleHashesInto}, but the distinct hashes stay in first-seen order (a hash set instead of a
 * sort, ≈3× cheaper): all MinHash needs, and enough for {@link jaccardOfSets}.
 */
export function shingleSetInto(cps: Int32Array, len: number, n: number, out: Int32Array): number {
  const m = shingleRunInto(cps, len, n, out);
  if (m <= 1) return m;
  const table = setTable(m);
  const mask = table.keys.length - 1;
  const gen = table.nextGen();
  const { keys, stamps } = table;
  let u = 0;
  for (let i = 0; i < m; i++) {
    const h = out[i]!;
    let p = h & mask; // the hashes are avalanched already
    for (;;) {
      if (stamps[p] !== gen) {
        stamps[p] = gen;
        keys[p] = h;
        out[u++] = h;
        break;
      }
      if (keys[p] === h) break;
      p = (p + 1) & mask;
    }
  }
  return u;
}

/**
 * Exact Jaccard similarity of two sets of distinct hashes in any order (as {@link shingleSetInto} gives them):
 * the smaller one goes into a hash set, the larger one probes it.
 */
export function jaccardOfSets(a: Int32Array, na: number, b: Int32Array, nb: number): number {
  if (na === 0 && nb === 0) return 1;
  if (na > nb) return jaccardOfSets(b, nb, a, na);
  const table = setTable(na);
  const mask = table.keys.length - 1;
  const gen = table.nextGen();
  const { keys, stamps } = table;
  for (let i = 0; i < na; i++) {
    const h = a[i]!;
    let p = h & mask;
    while (stamps[p] === gen && keys[p] !== h) p = (p + 1) & mask;
    stamps[p] = gen;
    keys[p] = h;
  }
  let inter = 0;
  for (let i = 0; i < nb; i++) {
    const h = b[i]!;
    let p = h & mask;
    while (stamps[p] === gen) {
      if (keys[p] === h) {
        inter++;
        break;
      }
      p = (p + 1) & mask;
    }
  }
  return inter / (na + nb - inter);
}

/** Open-addressing scratch table with generation stamps (no clearing between uses), at most half full. */
class SetTable {
  keys: Int32Array;
  stamps: Int32Array;
  private gen = 0;
  constructor(size: number) {
    this.keys = new Int32Array(size);
    this.stamps = new Int32Array(size);
  }
  nextGen(): number {
    if (++this.gen === 0x7fffffff) {
      this.stamps.fill(0);
      this.gen = 1;
    }
    return this.gen;
  }
}

let sets = new SetTable(1024);
function setTable(m: number): SetTable {
  if (sets.keys.length < 2 * m) {
    let size = sets.keys.length;
    while (size < 2 * m) size *= 2;
    sets = new SetTable(size);
  }
  return sets;
}

/** Hash every `n`-gram of `cps[0..len)` into `out` in text order (one hash for a text shorter than `n`). */
function shingleRunInto(cps: Int32Array, len: number, n: number, out: Int32Array): number {
  if (len === 0) return 0;
  if (len < n) {
    out[0] = hashRun(cps, 0, len);
    return 1;
  }
  const m = len - n + 1;
  // the per-code-point half of hashRun (multiply, rotate, multiply) once per position instead of n times
  if (mixed.length < len) mixed = new Int32Array(Math.max(len, 2 * mixed.length));
  const k = mixed;
  for (let j = 0; j < len; j++) {
    const x = Math.imul(cps[j]!, 0xcc9e2d51);
    k[j] = Math.imul((x << 15) | (x >>> 17), 0x1b873593);
  }
  const h0 = 0x2f6b3c9d ^ n;
  for (let i = 0; i < m; i++) {
    let h = h0;
    for (let j = i, end = i + n; j < end; j++) {
      h ^= k[j]!;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    out[i] = fmix32(h);
  }
  return m;
}

let mixed = new Int32Array(1024);

/**
 * MinHash of the first `m` hashes in `h` under `k` permutations `x ↦ a·x + b (mod 2^32)` with odd `a`
 * (datasketch 2.0's "affine32" family over an already avalanched hash). Minima are taken in signed order,
 * which is just another fixed total order of the 2^32 values. Eight shingles per pass over the signature cut
 * the loads and stores of `sig` (measured ≈1.3× faster than four in bench/kernel.ts).
 */
export function minhashInto(h: Int32Array, m: number, a: Int32Array, b: Int32Array, k: number, sig: Int32Array): void {
  for (let j = 0; j < k; j++) sig[j] = SIG_EMPTY;
  let i = 0;
  for (; i + 8 <= m; i += 8) {
    const x0 = h[i]!, x1 = h[i + 1]!, x2 = h[i + 2]!, x3 = h[i + 3]!;
    const x4 = h[i + 4]!, x5 = h[i + 5]!, x6 = h[i + 6]!, x7 = h[i + 7]!;
    for (let j = 0; j < k; j++) {
      const aj = a[j]!, bj = b[j]!;
      let s = sig[j]!;
      let v = (Math.imul(aj, x0) + bj) | 0;
      if (v < s) s = v;
      v = (Math.imul(aj, x1) + bj) | 0;
      if (v < s) s = v;
      v = (Math.imul(aj, x2) + bj) | 0;
      if (v < s) s = v;
      v = (Math.imul(aj, x3) + bj) | 0;
      if (v < s) s = v;
      v = (Math.imul(aj, x4) + bj) | 0;
      if (v < s) s = v;
      v = (Math.imul(aj, x5) + bj) | 0;
      if (v < s) s = v;
      v = (Math.imul(aj, x6) + bj) | 0;
      if (v < s) s = v;
      v = (Math.imul(aj, x7) + bj) | 0;
      if (v < s) s = v;
      sig[j] = s;
    }
  }
  for (; i < m; i++) {
    const x = h[i]!;
    for (let j = 0; j < k; j++) {
      const v = (Math.imul(a[j]!, x) + b[j]!) | 0;
      if (v < sig[j]!) sig[j] = v;
    }
  }
}

/**
 * 64-bit band keys (two 32-bit halves from independently seeded hashes) of `bands` bands of `rows` values
 * each, written to `out[2·band]`, `out[2·band + 1]` from `outOffset`. 64 bits keep accidental bucket
 * collisions negligible even at 10^8 documents.
 */
export function bandKeysInto(sig: Int32Array, bands: number, rows: number, out: Int32Array, outOffset: number): void {
  for (let band = 0; band < bands; band++) {
    let h1 = 0x6a09e667 ^ band;
    let h2 = 0x3c6ef372 ^ Math.imul(band, 0x9e3779b9);
    for (let r = 0, p = band * rows; r < rows; r++, p++) {
      const v = sig[p]!;
      h1 = Math.imul(h1 ^ v, 0x01000193);
      h1 = (h1 << 13) | (h1 >>> 19);
      h2 = Math.imul(h2 ^ fmix32(v + r), 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    out[outOffset + 2 * band] = fmix32(h1 ^ rows);
    out[outOffset + 2 * band + 1] = fmix32(h2 + band);
  }
}
