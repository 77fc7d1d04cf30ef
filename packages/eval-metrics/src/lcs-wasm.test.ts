import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { lcsOfSymbols } from "./lcs-bit-parallel.js";
import { lcsDriver, setLcsKernel } from "./lcs-fast.js";
import { KMAX } from "./lcs-wasm.js";
import { rougeLMany } from "./rouge-many.js";
import { charCodes } from "./tokenize.js";

/** Plain O(mn) dynamic programming: the oracle. */
function lcsDp(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const row = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}

const driver = lcsDriver()!;
const lcsOf = (pairs: [ArrayLike<number>, ArrayLike<number>][]) => {
  const out = new Int32Array(pairs.length);
  driver.symbols(pairs.length, (i) => pairs[i >> 1]![i & 1]!, out);
  return Array.from(out);
};
const seq = (alphabet: number, maxLength: number, base = 0) => fc.array(fc.integer({ min: base, max: base + alphabet - 1 }), { maxLength });

// Code points from CJK, ASCII (whitespace included, which character tokens drop) and astral emoji / Ext-B.
const piece = fc.oneof(
  fc.integer({ min: 0x4e00, max: 0x4e3f }).map((c) => String.fromCodePoint(c)),
  fc.constantFrom(" ", "\u3000", "\n", "a", "b", "Z", "7", "-", "。"),
  fc.integer({ min: 0x1f600, max: 0x1f60f }).map((c) => String.fromCodePoint(c)),
  fc.constantFrom("\u{20000}", "\u{10ffff}", "\ud800"),
);
const text = (maxLength: number) => fc.array(piece, { maxLength }).map((xs) => xs.join(""));

describe("Wasm LCS kernel (64-bit words, batched)", () => {
  it("is available on this runtime", () => expect(driver).not.toBeNull());

  test.prop([fc.array(fc.tuple(seq(4, 90), seq(4, 90)), { minLength: 1, maxLength: 30 })], { numRuns: 150 })(
    "equals DP on every pair of a batch (small alphabet, one and two words)",
    (pairs) => {
      expect(lcsOf(pairs)).toEqual(pairs.map(([a, b]) => lcsDp(a, b)));
    },
  );

  test.prop([seq(3, 64 * KMAX + 200), seq(3, 64 * KMAX + 200)], { numRuns: 60 })(
    "equals DP across word boundaries, in the unrolled kernels and the general loop",
    (a, b) => {
      expect(lcsOf([[a, b]])).toEqual([lcsDp(a, b)]);
    },
  );

  test.prop([fc.integer({ min: 1, max: 64 * (KMAX + 2) }), fc.integer({ min: 0, max: 1000 })], { numRuns: 80 })(
    "is exact at every pattern length (all-equal patterns saturate every bit)",
    (m, seed) => {
      const a = Array.from({ length: m }, (_, i) => (i * 7 + seed) % 3);
      const b = Array.from({ length: m + (seed % 70) }, (_, i) => (i * 5 + seed) % 3);
      expect(lcsOf([[a, b], [a, a], [b, a]])).toEqual([lcsDp(a, b), m, lcsDp(a, b)]);
    },
  );

  test.prop([seq(2000, 300, 0x10f000), seq(2000, 600)], { numRuns: 60 })("equals DP over large alphabets up to U+10FFFF", (a, b) => {
    const c = b.map((x) => (x % 3 === 0 ? 0x10f000 + x : x));
    expect(lcsOf([[a, c], [c, a]])).toEqual([lcsDp(a, c), lcsDp(a, c)]);
  });

  test.prop([fc.array(fc.tuple(text(120), text(120)), { minLength: 1, maxLength: 20 })], { numRuns: 120 })(
    "tokenizes like charCodes (Chinese, ASCII, whitespace, emoji, lone surrogates) and scores like DP",
    (pairs) => {
      const lcs = new Int32Array(pairs.length);
      const lengths = new Int32Array(2 * pairs.length);
      driver.chars(pairs.length, (i) => pairs[i >> 1]![i & 1]!, lcs, lengths);
      pairs.forEach(([a, b], k) => {
        const [ca, cb] = [charCodes(a), charCodes(b)];
        expect([lengths[2 * k], lengths[2 * k + 1], lcs[k]]).toEqual([ca.length, cb.length, lcsDp(ca, cb)]);
      });
    },
  );

  it("grows its match table for a long pattern of distinct symbols", () => {
    // 12,000 distinct symbols: the table needs (rows + 1) × 188 words, past the first allocation.
    const a = Array.from({ length: 12_000 }, (_, i) => (i * 7919) % 12_000);
    const b = Array.from({ length: 12_500 }, (_, i) => (i * 104_729) % 13_000);
    expect(lcsOf([[[1, 2, 3], [3, 2, 1, 2, 3]], [a, b], [[4, 5], [5, 4, 5]]])).toEqual([3, lcsOfSymbols(a, b), 2]);
  });

  test.prop([fc.array(fc.record({ candidate: text(150), reference: text(150) }), { minLength: 1, maxLength: 40 }), fc.constantFrom("char", "whitespace") as fc.Arbitrary<"char" | "whitespace">], { numRuns: 60 })(
    "rougeLMany gives every F the JS kernel gives",
    (pairs, tokenizer) => {
      const wasm = rougeLMany(pairs, { tokenizer });
      setLcsKernel("js");
      try {
        expect(rougeLMany(pairs, { tokenizer })).toEqual(wasm);
      } finally {
        setLcsKernel("wasm");
      }
    },
  );
});
