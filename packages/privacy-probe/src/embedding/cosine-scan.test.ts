import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { cosineScan, l2Norm, normalized } from "./cosine-scan.js";

test.prop([fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 2 ** 31 })])(
  "cosineScan equals row-by-row dot products for any row count (blocked and tail rows)",
  (dim, rows, seed) => {
    let s = seed;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const data = Float32Array.from({ length: rows * dim }, rnd);
    const q = Float32Array.from({ length: dim }, rnd);
    const out = cosineScan(data, dim, rows, q);
    expect(out).toHaveLength(rows);
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let i = 0; i < dim; i++) d += data[r * dim + i]! * q[i]!;
      expect(out[r]).toBeCloseTo(d, 5);
    }
  },
);

test.prop([fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 16 })])("normalized has unit norm or is undefined for zero", (xs) => {
  const v = Float32Array.from(xs);
  const n = normalized(v);
  if (l2Norm(v) === 0) expect(n).toBeUndefined();
  else expect(l2Norm(n!)).toBeCloseTo(1, 5);
});
