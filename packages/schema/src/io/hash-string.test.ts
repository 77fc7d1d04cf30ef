import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { hashString } from "./hash-string.js";

describe("hashString", () => {
  it("keeps its values (seeded picks and judge orders are derived from them)", () => {
    expect([hashString(""), hashString("a"), hashString("病历", 7), hashString("order\u0000s1\u00000", 5), hashString("x", -1)]).toEqual([
      2872998923, 444641715, 691942676, 1621364524, 1080307760,
    ]);
  });

  test.prop([fc.string(), fc.integer()])("is an unsigned 32-bit function of (string, seed); a negative seed equals its uint32", (s, seed) => {
    const h = hashString(s, seed);
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    expect(hashString(s, seed >>> 0)).toBe(h);
  });

  it("spreads short keys: low byte of 4096 ids is near uniform", () => {
    const bins = new Array<number>(16).fill(0);
    for (let i = 0; i < 4096; i++) bins[hashString(`id-${i}`) & 15]!++;
    for (const b of bins) expect(Math.abs(b - 256)).toBeLessThan(70);
  });
});
