/**
 * The hot kernel of the exact index: dot products of one unit-length query against `rows` unit-length rows stored
 * back to back in `data`. Unrolled by four; plain typed-array loops are what V8 optimises best here.
 */
export function cosineScan(data: Float32Array, dim: number, rows: number, query: Float32Array, out: Float32Array = new Float32Array(rows)): Float32Array {
  const d4 = dim - (dim % 4);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = 0;
    for (; i < d4; i += 4) {
      s0 += data[base + i]! * query[i]!;
      s1 += data[base + i + 1]! * query[i + 1]!;
      s2 += data[base + i + 2]! * query[i + 2]!;
      s3 += data[base + i + 3]! * query[i + 3]!;
    }
    let s = s0 + s1 + s2 + s3;
    for (; i < dim; i++) s += data[base + i]! * query[i]!;
    out[r] = s;
  }
  return out;
}

/** L2 norm of a vector. */
export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** A unit-length copy of `v` (computed in double precision). Returns undefined for a zero or non-finite vector. */
export function normalized(v: Float32Array): Float32Array | undefined {
  const n = l2Norm(v);
  if (!(n > 0) || !Number.isFinite(n)) return undefined;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / n;
  return out;
}
