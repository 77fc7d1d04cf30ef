/**
 * Exact longest-common-subsequence length with the bit-parallel recurrence of Allison & Dix (1986) in the
 * four-operation form of Hyyrö (2004), over 32-bit words with an explicit carry chain (multi-word).
 *
 * The shorter sequence lies on the bit axis: bit i of `PM[c]` is set when `pattern[i] === c`. For every symbol
 * of the text, `U = V & PM[c]; V = (V + U) | (V & ~PM[c])`; the LCS length is the number of zero bits in the
 * low `m` bits of `V` at the end. Text symbols that never occur in the pattern leave `V` unchanged and are
 * skipped, which matters for Chinese where most characters of one answer are absent from the other.
 */

/** A sequence of integer symbols (code points or interned token ids). */
export type SymbolSequence = ArrayLike<number>;

export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * LCS length of two integer sequences, exact. O(⌈m/32⌉·n) time for m = min length, n = max length.
 */
export function lcsOfSymbols(a: SymbolSequence, b: SymbolSequence): number {
  let aEnd = a.length;
  let bEnd = b.length;
  // Common prefix and suffix belong to every LCS: strip them (cheap, and near-duplicates are common).
  let start = 0;
  while (start < aEnd && start < bEnd && a[start] === b[start]) start++;
  while (aEnd > start && bEnd > start && a[aEnd - 1] === b[bEnd - 1]) {
    aEnd--;
    bEnd--;
  }
  const affix = start + (a.length - aEnd);
  let p = a;
  let pEnd = aEnd;
  let t = b;
  let tEnd = bEnd;
  if (aEnd - start > bEnd - start) {
    p = b;
    pEnd = bEnd;
    t = a;
    tEnd = aEnd;
  }
  const m = pEnd - start;
  if (m === 0) return affix;
  return affix + (m <= 32 ? lcsOneWord(p, start, pEnd, t, start, tEnd) : lcsMultiWord(p, start, pEnd, t, start, tEnd));
}

export function lcsOneWord(p: SymbolSequence, ps: number, pe: number, t: SymbolSequence, ts: number, te: number): number {
  const masks = new Map<number, number>();
  for (let i = ps; i < pe; i++) {
    const c = p[i]!;
    masks.set(c, (masks.get(c) ?? 0) | (1 << (i - ps)));
  }
  let v = -1;
  for (let j = ts; j < te; j++) {
    const pm = masks.get(t[j]!);
    if (pm === undefined) continue;
    const u = v & pm;
    // (v + u) may exceed 32 bits; ToInt32 keeps the low word, which is all we need.
    v = ((v >>> 0) + (u >>> 0)) | (v & ~pm);
  }
  const m = pe - ps;
  const low = m === 32 ? -1 : (1 << m) - 1;
  return popcount32(~v & low);
}

export function lcsMultiWord(p: SymbolSequence, ps: number, pe: number, t: SymbolSequence, ts: number, te: number): number {
  const m = pe - ps;
  const words = (m + 31) >>> 5;
  // Symbol → row index into one flat mask table (better locality than one array per symbol).
  const rowOf = new Map<number, number>();
  let rows = 0;
  for (let i = ps; i < pe; i++) if (!rowOf.has(p[i]!)) rowOf.set(p[i]!, rows++);
  const pm = new Uint32Array(rows * words);
  for (let i = ps; i < pe; i++) {
    const k = i - ps;
    pm[rowOf.get(p[i]!)! * words + (k >>> 5)]! |= 1 << (k & 31);
  }
  const v = new Uint32Array(words).fill(0xffffffff);
  for (let j = ts; j < te; j++) {
    const row = rowOf.get(t[j]!);
    if (row === undefined) continue;
    const base = row * words;
    let carry = 0;
    for (let w = 0; w < words; w++) {
      const vw = v[w]!;
      const mask = pm[base + w]!;
      const u = (vw & mask) >>> 0;
      const sum = vw + u + carry; // < 2^33, exact in a double
      carry = sum > 0xffffffff ? 1 : 0;
      v[w] = sum | (vw & ~mask);
    }
  }
  let zeros = 0;
  for (let w = 0; w < words; w++) {
    const bits = w === words - 1 && (m & 31) !== 0 ? (1 << (m & 31)) - 1 : -1;
    zeros += popcount32(~v[w]! & bits);
  }
  return zeros;
}
