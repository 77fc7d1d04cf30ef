import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { topKMask } from "./sparsify.js";
import { TopKCut } from "./streaming-top-k.js";

const values = fc.array(fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1, -1, 0.5)), { minLength: 1, maxLength: 300 });

test.prop([values, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 64 })], { numRuns: 300 })(
  "chunked radix select keeps the same entries as the in-memory top-k",
  async (xs, frac, chunk) => {
    const x = Float32Array.from(xs);
    const k = Math.max(1, Math.floor(frac * x.length));
    const chunks = async function* () {
      for (let s = 0; s < x.length; s += chunk) yield x.slice(s, s + chunk);
    };
    const cut = await TopKCut.find(chunks, k);
    const got: number[] = [];
    for await (const c of chunks()) got.push(...cut.mask(c));
    expect(got).toEqual([...topKMask(x, k)]);
  },
);
