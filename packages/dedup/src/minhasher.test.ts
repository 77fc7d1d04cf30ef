import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { corpus, editText, randomText, splitmix32 } from "../test/texts.js";
import { codePointsInto, fmix32, jaccardOfSets, shingleHashesInto, shingleSetInto } from "./minhash-kernel.js";
import { MinHasher } from "./minhasher.js";
import { normalizeText } from "./normalize-text.js";
import { jaccard, shingles } from "./shingles.js";

describe("MinHash kernel", () => {
  test.prop([fc.string({ unit: "grapheme", maxLength: 60 })])("reads code points like Array.from", (s) => {
    const [n, cps] = codePointsInto(s, new Int32Array(1));
    expect(Array.from(cps.subarray(0, n))).toEqual(Array.from(s).map((c) => c.codePointAt(0)));
  });
  test.prop([fc.string({ unit: "grapheme", maxLength: 80 }), fc.integer({ min: 1, max: 6 })])("hashes exactly the distinct shingles", (s, n) => {
    const [len, cps] = codePointsInto(s, new Int32Array(8));
    const out = new Int32Array(len + 1);
    const m = shingleHashesInto(cps, len, n, out);
    expect(m).toBe(shingles(s, { ngram: n }).length);
    for (let i = 1; i < m; i++) expect(out[i]!).toBeGreaterThan(out[i - 1]!);
  });
  test.prop([fc.array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength: 300 }), fc.integer({ min: 1, max: 8 })])(
    "gives the murmur3-style hash of each n-gram (the hashing scheme saved indexes depend on)",
    (cpList, n) => {
      // the scheme written out plainly: murmur3 body over the n code points, length mixed into the seed, fmix32
      const ref = (xs: number[]) => {
        let h = 0x2f6b3c9d ^ xs.length;
        for (const c of xs) {
          let k = Math.imul(c, 0xcc9e2d51);
          k = (k << 15) | (k >>> 17);
          h ^= Math.imul(k, 0x1b873593);
          h = (h << 13) | (h >>> 19);
          h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        }
        return fmix32(h);
      };
      const want = new Set<number>();
      if (cpList.length > 0 && cpList.length < n) want.add(ref(cpList));
      for (let i = 0; i + n <= cpList.length; i++) want.add(ref(cpList.slice(i, i + n)));
      const out = new Int32Array(cpList.length + 1);
      const m = shingleHashesInto(Int32Array.from(cpList), cpList.length, n, out);
      expect(Array.from(out.subarray(0, m))).toEqual([...want].sort((a, b) => a - b));
    },
  );
  test.prop([fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 400 }), fc.integer({ min: 1, max: 6 })])(
    "the unsorted shingle set holds the same distinct hashes in first-seen order",
    (cpList, n) => {
      const cps = Int32Array.from(cpList);
      const sorted = new Int32Array(cpList.length + 1);
      const ms = shingleHashesInto(cps, cpList.length, n, sorted);
      const set = new Int32Array(cpList.length + 1);
      const m = shingleSetInto(cps, cpList.length, n, set);
      expect(m).toBe(ms);
      expect(new Set(set.subarray(0, m)).size).toBe(m);
      expect(Array.from(set.subarray(0, m)).sort((a, b) => a - b)).toEqual(Array.from(sorted.subarray(0, ms)));
    },
  );
  test.prop([fc.uniqueArray(fc.integer({ min: -50, max: 50 })), fc.uniqueArray(fc.integer({ min: -50, max: 50 }))])("Jaccard of unordered sets", (xs, ys) => {
    fc.pre(xs.length + ys.length > 0);
    const inter = xs.filter((x) => ys.includes(x)).length;
    expect(jaccardOfSets(Int32Array.from(xs), xs.length, Int32Array.from(ys), ys.length)).toBeCloseTo(inter / (xs.length + ys.length - inter), 12);
  });
});

describe("MinHasher", () => {
  it("is deterministic for a seed and differs across seeds", () => {
    const text = "高血压患者能吃党参吗？我有高血压这两天女婿来的时候给我拿了些党参泡水喝";
    const a = new MinHasher({ seed: 7 }).signature(text);
    expect(new MinHasher({ seed: 7 }).signature(text)).toEqual(a);
    expect(new MinHasher({ seed: 8 }).signature(text)).not.toEqual(a);
    expect(a).toHaveLength(128);
    expect(MinHasher.estimate(a, a)).toBe(1);
  });
  it("gives an identical signature for texts equal after normalisation", () => {
    const h = new MinHasher();
    expect(h.signature("头痛，发热３天。")).toEqual(h.signature("头痛发热3天"));
  });
  it.each(["oph", "minhash"] as const)("estimated Jaccard tracks exact Jaccard without bias (%s)", (sketch) => {
    const next = splitmix32(42);
    const h = new MinHasher({ numPerm: 128, seed: 3, sketch });
    let sumErr = 0;
    let sumAbs = 0;
    let maxAbs = 0;
    const pairs = 300;
    for (let i = 0; i < pairs; i++) {
      const a = randomText(next, 150);
      const b = editText(next, a, ((next() >>> 0) / 2 ** 32) * 0.3);
      const exact = jaccard(shingles(normalizeText(a)), shingles(normalizeText(b)));
      const est = MinHasher.estimate(h.signature(a), h.signature(b));
      sumErr += est - exact;
      sumAbs += Math.abs(est - exact);
      maxAbs = Math.max(maxAbs, Math.abs(est - exact));
    }
    // σ ≤ sqrt(0.25/128) = 0.044 per pair
    expect(Math.abs(sumErr / pairs)).toBeLessThan(0.01);
    expect(sumAbs / pairs).toBeLessThan(0.045);
    expect(maxAbs).toBeLessThan(0.2);
  });
  test.prop([fc.integer({ min: 0, max: 1000 })], { numRuns: 20 })("estimate is symmetric and 1 on copies", (seed) => {
    const docs = corpus(seed, 2);
    const h = new MinHasher({ numPerm: 64, seed });
    const a = h.signature(docs[0]!);
    const b = h.signature(docs[1]!);
    expect(MinHasher.estimate(a, b)).toBe(MinHasher.estimate(b, a));
    expect(MinHasher.estimate(a, h.signature(docs[0]!))).toBe(1);
  });
  it("rejects bad options", () => {
    expect(() => new MinHasher({ numPerm: 0 })).toThrow(RangeError);
    expect(() => new MinHasher({ ngram: 1.5 })).toThrow(RangeError);
    expect(() => new MinHasher({ sketch: "bbit" as never })).toThrow(RangeError);
    expect(() => MinHasher.estimate(new Int32Array(2), new Int32Array(3))).toThrow(RangeError);
  });
});
