import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { GrowArray, SmallIntColumn } from "./grow-array.js";

describe("GrowArray and SmallIntColumn", () => {
  test.prop([fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 3000 })])("give back what was pushed, in the narrowest type that holds it", (xs) => {
    const col = new SmallIntColumn();
    const ref = new GrowArray(Float64Array, 1);
    for (const x of xs) {
      col.push(x);
      ref.push(x);
    }
    expect(col.length).toBe(xs.length);
    const max = Math.max(0, ...xs);
    const got = col.take();
    expect(got).toBeInstanceOf(max <= 0xff ? Uint8Array : max <= 0xffff ? Uint16Array : Int32Array);
    expect(Array.from(got)).toEqual(xs);
    expect(Array.from(ref.take())).toEqual(xs);
  });
});
