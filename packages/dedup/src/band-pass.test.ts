import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { forEachBucket } from "./band-pass.js";

describe("forEachBucket", () => {
  test.prop([
    fc.array(fc.tuple(fc.integer({ min: -3, max: 3 }).map((x) => x * 65537), fc.integer({ min: -2, max: 2 })), { minLength: 1, maxLength: 80 }),
    fc.array(fc.boolean(), { maxLength: 80 }),
  ])("groups equal 64-bit keys in document order, skipping masked documents", (pairs, mask) => {
    const n = pairs.length;
    const keys = new Int32Array(2 * n);
    pairs.forEach(([hi, lo], i) => {
      keys[2 * i] = hi;
      keys[2 * i + 1] = lo;
    });
    const skip = new Uint8Array(n);
    mask.slice(0, n).forEach((m, i) => (skip[i] = m ? 1 : 0));
    const got: string[] = [];
    forEachBucket(keys, n, skip, (m, c) => got.push(Array.from(m.subarray(0, c)).join(",")));
    const want = new Map<string, number[]>();
    pairs.forEach(([hi, lo], i) => {
      if (skip[i]) return;
      const k = `${hi}:${lo}`;
      want.set(k, [...(want.get(k) ?? []), i]);
    });
    const expected = [...want.values()].filter((g) => g.length > 1).map((g) => g.join(","));
    expect(got.sort()).toEqual(expected.sort());
  });
});
