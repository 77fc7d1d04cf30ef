/**
 * One band of the LSH index, processed at once: given every document's 64-bit key for this band as (hi, lo)
 * Int32 pairs, find the buckets of two or more documents. A stable LSD radix sort on the high half (two
 * 16-bit passes) groups equal keys; rare high-half ties are split by the low half. Members come out in
 * ascending document order. Memory: four Int32Arrays of n.
 */
export function forEachBucket(
  keys: Int32Array,
  n: number,
  skip: Uint8Array | undefined,
  onBucket: (members: Int32Array, count: number) => void,
  scratch?: { idx: Int32Array; tmp: Int32Array },
): void {
  const idx = scratch && scratch.idx.length >= n ? scratch.idx : new Int32Array(n);
  const tmp = scratch && scratch.tmp.length >= n ? scratch.tmp : new Int32Array(n);
  const count = new Int32Array(65537);
  // pass 1: low 16 bits of hi
  for (let i = 0; i < n; i++) count[(keys[2 * i]! & 0xffff) + 1]!++;
  for (let i = 0; i < 65536; i++) count[i + 1]! += count[i]!;
  for (let i = 0; i < n; i++) tmp[count[keys[2 * i]! & 0xffff]!++] = i;
  // pass 2: high 16 bits of hi (stable, so ties stay in document order)
  count.fill(0);
  for (let i = 0; i < n; i++) count[(keys[2 * i]! >>> 16) + 1]!++;
  for (let i = 0; i < 65536; i++) count[i + 1]! += count[i]!;
  for (let j = 0; j < n; j++) {
    const d = tmp[j]!;
    idx[count[keys[2 * d]! >>> 16]!++] = d;
  }
  const members = new Int32Array(64);
  let buf = members;
  let i = 0;
  while (i < n) {
    const hi = keys[2 * idx[i]!]!;
    let j = i + 1;
    while (j < n && keys[2 * idx[j]!] === hi) j++;
    if (j - i > 1 && sameLow(keys, idx, i, j)) {
      // the usual run: one full key (a bucket), already in document order, so no sort
      if (j - i > buf.length) buf = new Int32Array(2 * (j - i));
      let c = 0;
      for (let q = i; q < j; q++) {
        const d = idx[q]!;
        if (!skip || !skip[d]) buf[c++] = d;
      }
      if (c > 1) onBucket(buf, c);
    } else if (j - i > 1) {
      // a run of equal high halves: group by the low half, keeping document order inside each group
      const run = Array.from(idx.subarray(i, j));
      run.sort((x, y) => keys[2 * x + 1]! - keys[2 * y + 1]! || x - y);
      let s = 0;
      while (s < run.length) {
        const lo = keys[2 * run[s]! + 1]!;
        let e = s + 1;
        while (e < run.length && keys[2 * run[e]! + 1] === lo) e++;
        let c = 0;
        if (e - s > buf.length) buf = new Int32Array(2 * (e - s));
        for (let q = s; q < e; q++) {
          const d = run[q]!;
          if (!skip || !skip[d]) buf[c++] = d;
        }
        if (c > 1) onBucket(buf, c);
        s = e;
      }
    }
    i = j;
  }
}

/** Whether the documents `idx[i..j)` share the low half of their key too. */
function sameLow(keys: Int32Array, idx: Int32Array, i: number, j: number): boolean {
  const lo = keys[2 * idx[i]! + 1]!;
  for (let q = i + 1; q < j; q++) if (keys[2 * idx[q]! + 1] !== lo) return false;
  return true;
}
