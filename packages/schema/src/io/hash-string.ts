/**
 * A keyed 32-bit string hash: FNV-1a over the UTF-16 code units of `s`, started from `seed`, then murmur3's
 * fmix32 finaliser (FNV alone leaves the low bits weak for short keys). Stable across platforms and releases:
 * seeded picks and shuffles keyed by an id (pref-select's judge orders, instruct-augment's instruction picks)
 * are derived from it, so changing it changes published outputs.
 * @returns an unsigned 32-bit integer
 */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
