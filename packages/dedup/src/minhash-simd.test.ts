import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { minhashInto, SIG_EMPTY } from "./minhash-kernel.js";
import { createSimdMinhash } from "./minhash-simd.js";
import { MinHasher } from "./minhasher.js";

describe("Wasm SIMD MinHash", () => {
  it("is available on this runtime for 128 permutations, and declines sizes it does not cover", () => {
    const h = new MinHasher({ numPerm: 128 });
    expect(createSimdMinhash(h.a, h.b)).not.toBeNull();
    const odd = new MinHasher({ numPerm: 100 });
    expect(createSimdMinhash(odd.a, odd.b)).toBeNull();
  });

  test.prop([
    fc.constantFrom(16, 64, 128, 256),
    fc.integer({ min: 0, max: 2 ** 31 }),
    fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 400 }),
  ])("gives the scalar kernel's signature bit for bit", (k, seed, xs) => {
    const h = new MinHasher({ numPerm: k, seed });
    const simd = createSimdMinhash(h.a, h.b)!;
    const hashes = Int32Array.from(xs);
    const want = new Int32Array(k);
    const got = new Int32Array(k).fill(123);
    minhashInto(hashes, hashes.length, h.a, h.b, k, want);
    simd.minhash(hashes, hashes.length, got);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("grows its memory for long documents and reuses it after", () => {
    const h = new MinHasher({ numPerm: 128, seed: 7 });
    const simd = createSimdMinhash(h.a, h.b)!;
    const long = Int32Array.from({ length: 100_000 }, (_, i) => Math.imul(i + 1, 0x9e3779b9));
    const want = new Int32Array(128);
    const got = new Int32Array(128);
    minhashInto(long, long.length, h.a, h.b, 128, want);
    simd.minhash(long, long.length, got);
    expect(Array.from(got)).toEqual(Array.from(want));
    simd.minhash(long.subarray(0, 3), 3, got);
    minhashInto(long, 3, h.a, h.b, 128, want);
    expect(Array.from(got)).toEqual(Array.from(want));
    simd.minhash(new Int32Array(0), 0, got);
    expect(got.every((v) => v === SIG_EMPTY)).toBe(true);
  });
});
