import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { UsageError } from "./context.js";
import { enumFlag, fractionFlag, intFlag, numberFlag } from "./flags.js";
import { exitCodeFor } from "./run.js";

const usage = (f: () => unknown): UsageError => {
  try {
    f();
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error("expected a UsageError");
};

describe("shared flag parsers", () => {
  it("name the flag, the value and what was expected; a bad value exits 2", () => {
    const e = usage(() => intFlag("concurrency", "0", { min: 1, max: 4096 }));
    expect(e.message).toBe('--concurrency must be an integer ≥ 1 and ≤ 4096, got "0"');
    expect(exitCodeFor(e)).toBe(2);
    expect(usage(() => numberFlag("timeout", "0", { min: 0, minExclusive: true })).message).toBe('--timeout must be a number > 0, got "0"');
    expect(usage(() => intFlag("-n", "-1", { min: 0 })).message).toBe('-n must be an integer ≥ 0, got "-1"');
    expect(usage(() => fractionFlag("flip", "1.2", { expected: "a fraction between 0 and 1" })).message).toBe('--flip must be a fraction between 0 and 1, got "1.2"');
    expect(usage(() => enumFlag("order", "random", ["input", "strength"])).message).toBe('--order must be input, strength, got "random"');
    expect(usage(() => enumFlag("method", "x", ["ties"], { expected: "one of ties" })).message).toBe('--method must be one of ties, got "x"');
  });

  it("refuse what Number() would quietly accept or mangle", () => {
    for (const v of ["", "  ", "NaN", "Infinity", "1.5", "1e300", "0x"]) expect(() => intFlag("n", v)).toThrow(UsageError);
    for (const v of ["", "abc", "-Infinity"]) expect(() => numberFlag("x", v)).toThrow(UsageError);
    expect(intFlag("n", "1e3")).toBe(1000);
    expect(numberFlag("x", "2.5")).toBe(2.5);
  });

  it("leave an absent optional flag undefined", () => {
    expect(intFlag("n", undefined, { min: 1 })).toBeUndefined();
    expect(numberFlag("x", undefined)).toBeUndefined();
    expect(fractionFlag("f", undefined)).toBeUndefined();
    expect(enumFlag("e", undefined, ["a"])).toBeUndefined();
  });

  test.prop([fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -2000, max: 2000 })])(
    "intFlag accepts exactly the integers within its bounds",
    (a, b, n) => {
      const [min, max] = a <= b ? [a, b] : [b, a];
      if (n >= min && n <= max) expect(intFlag("n", String(n), { min, max })).toBe(n);
      else expect(() => intFlag("n", String(n), { min, max })).toThrow(UsageError);
    },
  );

  test.prop([fc.double({ min: -2, max: 3, noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x))])("fractionFlag accepts exactly [0, 1]", (x) => {
    if (x >= 0 && x <= 1) expect(fractionFlag("f", String(x))).toBe(x);
    else expect(() => fractionFlag("f", String(x))).toThrow(UsageError);
  });
});
