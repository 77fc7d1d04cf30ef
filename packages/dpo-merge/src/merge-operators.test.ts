import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { seededRng } from "./seeded-rng.js";
import { slerp } from "./slerp.js";
import { bernoulliMask, dare, magnitudePrune, topKMask } from "./sparsify.js";
import { linearMerge, mergeTaskVectors, mixChunk, taskVector, tiesMerge } from "./task-arithmetic.js";

// Multiples of 1/8 in a small range: every sum and product below is exact in float32, so reorderings must agree
// bit for bit.
const exact = fc.integer({ min: -64, max: 64 }).map((i) => i / 8);
const vec = (n: number) => fc.array(exact, { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));
const models = fc.integer({ min: 1, max: 12 }).chain((n) =>
  fc.tuple(vec(n), fc.array(vec(n), { minLength: 1, maxLength: 4 }), fc.array(fc.constantFrom(0.25, 0.5, 1, 2), { minLength: 4, maxLength: 4 })),
);
const permute = <T>(xs: T[], seed: number): T[] => {
  const rng = seededRng(seed, "perm");
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

describe("sparsification", () => {
  test.prop([fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 200 }), fc.double({ min: 0, max: 1, noNaN: true })])(
    "top-k keeps exactly k entries, none smaller than a dropped one",
    (xs, frac) => {
      const x = Float32Array.from(xs);
      const k = Math.floor(frac * x.length);
      const m = topKMask(x, k);
      expect(m.reduce((a, b) => a + b, 0)).toBe(k);
      let minKept = Infinity;
      let maxDropped = -Infinity;
      x.forEach((v, i) => (m[i] ? (minKept = Math.min(minKept, Math.abs(v))) : (maxDropped = Math.max(maxDropped, Math.abs(v)))));
      if (k > 0 && k < x.length) expect(minKept).toBeGreaterThanOrEqual(maxDropped);
    },
  );

  it("breaks magnitude ties towards the lower index", () => {
    expect([...topKMask(Float32Array.from([1, -2, 2, 2, 0.5]), 2)]).toEqual([0, 1, 1, 0, 0]);
    expect([...magnitudePrune({ delta: Float32Array.from([3, -1, 0.5, -4]), density: 0.5 })]).toEqual([3, 0, 0, -4]);
    expect([...magnitudePrune({ delta: Float32Array.from([3, -1, 0.5, -4]), density: 0.1 })]).toEqual([0, 0, 0, -4]);
  });

  test.prop([vec(20), fc.integer()])("DARE with keep-probability 1 is the identity", (d, seed) => {
    expect([...dare({ delta: d, density: 1, rng: seededRng(seed) })]).toEqual([...d]);
  });

  test.prop([vec(50), fc.integer(), fc.constantFrom(0.1, 0.5, 0.9)])("DARE is deterministic per seed and rescales survivors by 1/p", (d, seed, p) => {
    const a = dare({ delta: d, density: p, rng: seededRng(seed, "w") });
    const b = dare({ delta: d, density: p, rng: seededRng(seed, "w") });
    expect([...a]).toEqual([...b]);
    a.forEach((v, i) => expect(v === 0 || v === Math.fround(d[i]! / p)).toBe(true));
  });

  it("DARE keeps about p of the entries and is unbiased", () => {
    const n = 200_000;
    const d = new Float32Array(n).fill(1);
    const out = dare({ delta: d, density: 0.3, rng: seededRng(7, "t") });
    const kept = out.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
    expect(Math.abs(kept / n - 0.3)).toBeLessThan(0.005);
    expect(Math.abs(out.reduce((a, v) => a + v, 0) / n - 1)).toBeLessThan(0.02);
    const other = dare({ delta: d, density: 0.3, rng: seededRng(8, "t") });
    expect(other).not.toEqual(out);
    const l1 = dare({ delta: d, density: 0.3, rng: seededRng(7, "t"), rescale: "l1" });
    expect(Math.abs(l1.reduce((a, v) => a + Math.abs(v), 0) - n)).toBeLessThan(n * 1e-5);
    expect(bernoulliMask({ length: 10, p: 0, rng: seededRng(1) }).every((v) => v === 0)).toBe(true);
  });
});

describe("task arithmetic, TIES, linear", () => {
  test.prop([models, fc.constantFrom(0.2, 0.5, 1)])("TIES with one model is the trimmed task vector", ([base, ms, _w], density) => {
    const m = ms[0]!;
    const merged = tiesMerge({ base, models: [m], weights: [1], density });
    const trimmed = magnitudePrune({ delta: taskVector({ model: m, base }), density });
    expect([...merged]).toEqual([...base.map((b, i) => b + trimmed[i]!)]);
  });

  test.prop([models, fc.integer()])("merges do not depend on model order", ([base, ms, ws], seed) => {
    const weights = ms.map((_, i) => ws[i]!);
    const idx = permute(ms.map((_, i) => i), seed);
    const pm = idx.map((i) => ms[i]!);
    const pw = idx.map((i) => weights[i]!);
    expect([...linearMerge({ tensors: pm, weights: pw })]).toEqual([...linearMerge({ tensors: ms, weights })]);
    expect([...mergeTaskVectors({ base, models: pm, weights: pw })]).toEqual([...mergeTaskVectors({ base, models: ms, weights })]);
    expect([...tiesMerge({ base, models: pm, weights: pw, density: 0.6 })]).toEqual([...tiesMerge({ base, models: ms, weights, density: 0.6 })]);
  });

  test.prop([models])("task arithmetic with unit weights adds the task vectors", ([base, ms]) => {
    const out = mergeTaskVectors({ base, models: ms, weights: ms.map(() => 1) });
    base.forEach((b, i) => expect(out[i]).toBe(ms.reduce((a, m) => a + (m[i]! - b), b)));
  });

  test.prop([vec(8), fc.constantFrom(0.5, 1, 3)])("linear merge of copies returns the tensor", (t, w) => {
    expect([...linearMerge({ tensors: [t, t, t], weights: [w, w, w] })]).toEqual([...t]);
  });

  it("elects the sign by weighted sum and averages only agreeing entries", () => {
    const base = Float32Array.from([0, 0, 0, 0]);
    const a = Float32Array.from([1, -1, 2, 0]);
    const b = Float32Array.from([3, 2, -1, 0]);
    const c = Float32Array.from([-1, 2, -4, 1]);
    const out = tiesMerge({ base, models: [a, b, c], weights: [1, 1, 1], density: 1 });
    // col0: sum 3 → + : (1+3)/2; col1: sum 3 → + : (2+2)/2; col2: sum -3 → − : (-1-4)/2; col3: only c.
    expect([...out]).toEqual([2, 2, -2.5, 1]);
    const unnorm = tiesMerge({ base, models: [a, b, c], weights: [1, 1, 1], density: 1, normalize: false });
    expect([...unnorm]).toEqual([4, 4, -5, 1]);
    expect(() => tiesMerge({ base, models: [a], weights: [1, 2], density: 1 })).toThrow(expect.objectContaining({ name: "MergeInputError", field: "weights" }));
  });

  it("DARE-TIES with keep-probability 1 equals TIES without trimming", () => {
    const base = Float32Array.from([0.5, 1, -1]);
    const ms = [Float32Array.from([1, 2, 0]), Float32Array.from([0, -1, 1])];
    const viaDare = mergeTaskVectors({ base, models: ms, weights: [0.5, 0.5], sparsify: { method: "bernoulli", density: 1, rng: (i) => seededRng(1, i) }, consensus: "sum" });
    const plain = mergeTaskVectors({ base, models: ms, weights: [0.5, 0.5], consensus: "sum" });
    expect([...viaDare]).toEqual([...plain]);
  });
});

describe("slerp", () => {
  test.prop([vec(16), vec(16)])("t = 0 gives the first tensor", (a, b) => {
    const out = slerp({ a, b, t: 0 });
    out.forEach((v, i) => expect(v).toBeCloseTo(a[i]!, 5));
  });

  it("keeps unit norm between orthogonal unit vectors and lerps collinear ones", () => {
    const a = Float32Array.from([1, 0]);
    const b = Float32Array.from([0, 1]);
    const mid = slerp({ a, b, t: 0.5 });
    expect(mid[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(mid[1]).toBeCloseTo(Math.SQRT1_2, 6);
    expect([...slerp({ a, b: Float32Array.from([2, 0]), t: 0.25 })]).toEqual([1.25, 0]);
    const end = slerp({ a, b, t: 1 });
    expect(end[0]).toBeCloseTo(0, 6);
    expect(end[1]).toBeCloseTo(1, 6);
  });
});

/** The straightforward per-element form of mixChunk (its first version), kept as the reference it must equal. */
function mixReference(o: { base: Float32Array; models: Float32Array[]; weights: number[]; masks: Array<Uint8Array | undefined>; scales: Array<{ div: number } | { mul: number } | undefined>; consensus: "sum" | "none"; normalize: boolean; lambda: number }): Float32Array {
  const f = Math.fround;
  const w = o.weights.map(f);
  let wsum = 0;
  for (const x of w) wsum = f(wsum + x);
  if (Math.abs(wsum) < 1e-8) wsum = 1;
  const out = new Float32Array(o.base.length);
  for (let j = 0; j < out.length; j++) {
    const b = o.base[j]!;
    const d = o.models.map((m, i) => {
      let x = o.masks[i] && o.masks[i]![j] === 0 ? 0 : f(m[j]! - b);
      const s = o.scales[i];
      if (s && x !== 0) x = "div" in s ? f(x / f(s.div)) : f(x * f(s.mul));
      return f(x * w[i]!);
    });
    let mix = 0;
    if (o.consensus === "sum") {
      let s = 0;
      for (const x of d) s = f(s + x);
      const major = s >= 0 ? 1 : -1;
      let div = 0;
      d.forEach((x, i) => {
        if (Math.sign(x) === major) {
          mix = f(mix + x);
          div = f(div + w[i]!);
        }
      });
      if (o.normalize) mix = f(mix / (div === 0 ? 1 : div));
    } else {
      for (const x of d) mix = f(mix + x);
      if (o.normalize) mix = f(mix / wsum);
    }
    if (o.lambda !== 1) mix = f(mix * f(o.lambda));
    out[j] = b + mix;
  }
  return out;
}

describe("mixChunk", () => {
  const val = fc.float({ min: -4, max: 4, noNaN: true });
  test.prop(
    [
      fc.integer({ min: 1, max: 20 }).chain((n) =>
        fc.tuple(
          fc.array(val, { minLength: n, maxLength: n }),
          fc.array(
            fc.tuple(
              fc.array(val, { minLength: n, maxLength: n }),
              fc.double({ min: -2, max: 2, noNaN: true }),
              fc.option(fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n })),
              fc.option(fc.oneof(fc.record({ div: fc.constantFrom(0.3, 0.5, 0.9) }), fc.record({ mul: fc.double({ min: 0.5, max: 3, noNaN: true }) }))),
            ),
            { minLength: 1, maxLength: 4 },
          ),
        ),
      ),
      fc.constantFrom("sum" as const, "none" as const),
      fc.boolean(),
      fc.constantFrom(1, 0.7),
    ],
    { numRuns: 300 },
  )("equals the per-element reference bit for bit", ([base, ms], consensus, normalize, lambda) => {
    const o = {
      base: Float32Array.from(base),
      models: ms.map((m) => Float32Array.from(m[0])),
      weights: ms.map((m) => m[1]),
      masks: ms.map((m) => (m[2] ? Uint8Array.from(m[2]) : undefined)),
      scales: ms.map((m) => m[3] ?? undefined),
      consensus,
      normalize,
      lambda,
    };
    expect([...mixChunk(o)]).toEqual([...mixReference(o)]);
  });

  it("equals the reference across its internal blocks, with masks, scales and negative weights", () => {
    const rng = seededRng(3, "blocks");
    const n = 3 * 4096 + 123;
    const arr = () => Float32Array.from({ length: n }, () => (rng() - 0.5) * 8);
    const mask = () => Uint8Array.from({ length: n }, () => (rng() < 0.6 ? 1 : 0));
    for (const consensus of ["sum", "none"] as const) {
      const o = { base: arr(), models: [arr(), arr(), arr()], weights: [0.7, -0.4, 1.3], masks: [mask(), undefined, mask()],
        scales: [{ div: 0.6 }, undefined, { mul: 1.7 }], consensus, normalize: true, lambda: 0.8 };
      const got = mixChunk(o);
      expect(got.length).toBe(n);
      expect([...got]).toEqual([...mixReference(o)]);
    }
  });
});
