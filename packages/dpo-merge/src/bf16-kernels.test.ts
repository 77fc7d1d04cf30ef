import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Bf16Engine, type MixSpec } from "./bf16-kernels.js";
import { bf16ToF32, f32ToBf16 } from "./dtype.js";
import { seededRng, seededState } from "./seeded-rng.js";
import { slerpApply, slerpSums } from "./slerp.js";
import { bernoulliMask } from "./sparsify.js";
import { linearMerge, mixChunk } from "./task-arithmetic.js";

const CHUNK = 48;
const f = Math.fround;

/** bf16 bit patterns, every kind: normal, subnormal, ±0, ±Inf, NaN (a third drawn near 1 so sums do not overflow). */
const bf16 = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0x3c00, max: 0x4000 }), fc.integer({ min: 0xbc00, max: 0xc000 }));
const tensor = (n: number) => fc.array(bf16, { minLength: n, maxLength: n }).map((a) => Uint16Array.from(a));
const weight = fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), fc.constantFrom(0, 1, 0.5, -1));

function load(e: Bf16Engine, set: number, inputs: Uint16Array[]): void {
  inputs.forEach((x, i) => e.input(set, i).set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)));
}
const asU16 = (b: Uint8Array) => Array.from(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2));

describe("Bf16Engine", () => {
  it("is available on this runtime (Wasm SIMD), so the fast path is what the merge tests exercise", () => {
    expect(Bf16Engine.get({ kind: "linear", k: 2, masked: [], scale: [], consensus: false, normalize: true, lambda: false }, CHUNK)).toBeDefined();
  });

  test.prop(
    [
      fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: CHUNK })).chain(([k, n]) =>
        fc.record({
          n: fc.constant(n),
          k: fc.constant(k),
          inputs: fc.array(tensor(n), { minLength: k + 1, maxLength: k + 1 }),
          weights: fc.array(weight, { minLength: k, maxLength: k }),
          masked: fc.boolean(),
          density: fc.constantFrom(0, 0.1, 0.5, 0.9),
          scale: fc.constantFrom(undefined, "div" as const, "mul" as const),
          scaleValue: fc.double({ min: 0.05, max: 3, noNaN: true }),
          consensus: fc.boolean(),
          normalize: fc.boolean(),
          lambda: fc.constantFrom(1, 0.7, 1.3),
          seed: fc.nat(1000),
        }),
      ),
    ],
    { endOnFailure: true },
  )("task kernel equals mixChunk rounded to bf16, masks drawn as bernoulliMask", (c) => {
    const { inputs } = c;
    const spec: MixSpec = { kind: "task", k: c.k, masked: inputs.slice(1).map(() => c.masked), scale: inputs.slice(1).map(() => c.scale), consensus: c.consensus, normalize: c.normalize, lambda: f(c.lambda) !== 1 };
    const e = Bf16Engine.get(spec, CHUNK)!;
    let wsum = 0;
    for (const w of c.weights) wsum = f(wsum + f(w));
    load(e, 1, inputs);
    e.setValues({ weights: c.weights, scales: c.weights.map(() => c.scaleValue), wsum: Math.abs(wsum) < 1e-8 ? 1 : wsum, lambda: c.lambda });
    if (c.masked) for (let i = 0; i < c.k; i++) {
      e.setRngState(i, seededState(c.seed, "t", i));
      e.drawMask(i, c.n, c.density);
    }
    const got = asU16(e.mix(1, c.n));
    const [base, ...models] = inputs.map((x) => bf16ToF32(x));
    const want = mixChunk({
      base: base!,
      models,
      weights: c.weights,
      masks: models.map((_, i) => (c.masked ? bernoulliMask({ length: c.n, p: c.density, rng: seededRng(c.seed, "t", i) }) : undefined)),
      scales: models.map(() => (c.scale === "div" ? { div: c.scaleValue } : c.scale === "mul" ? { mul: c.scaleValue } : undefined)),
      consensus: c.consensus ? "sum" : "none",
      normalize: c.normalize,
      lambda: c.lambda,
    });
    expect(got).toEqual(Array.from(f32ToBf16(want)));
  });

  test.prop(
    [
      fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: CHUNK })).chain(([k, n]) =>
        fc.record({
          n: fc.constant(n),
          inputs: fc.array(tensor(n), { minLength: k, maxLength: k }),
          weights: fc.array(weight, { minLength: k, maxLength: k }),
          normalize: fc.boolean(),
        }),
      ),
    ],
    { endOnFailure: true },
  )("linear kernel equals linearMerge rounded to bf16 (one rounding per multiply-add)", (c) => {
    const k = c.weights.length;
    let s = 0;
    for (const w of c.weights) s = f(s + f(w));
    const e = Bf16Engine.get({ kind: "linear", k, masked: [], scale: [], consensus: false, normalize: c.normalize && s !== 1, lambda: false }, CHUNK)!;
    load(e, 0, c.inputs);
    e.setValues({ weights: c.weights, wsum: s });
    const want = linearMerge({ tensors: c.inputs.map((x) => bf16ToF32(x)), weights: c.weights, normalize: c.normalize });
    expect(asU16(e.mix(0, c.n))).toEqual(Array.from(f32ToBf16(want)));
  });

  test.prop(
    [
      fc.integer({ min: 1, max: CHUNK }).chain((n) => fc.tuple(tensor(n), tensor(n))),
      fc.tuple(tensor(CHUNK), tensor(CHUNK)),
      fc.double({ min: -3, max: 3, noNaN: true }),
      fc.double({ min: -3, max: 3, noNaN: true }),
    ],
    { endOnFailure: true },
  )("slerp kernels equal slerpSums (same float64 order, across chunks) and slerpApply", ([a1, b1], [a2, b2], ca, cb) => {
    const n = a1.length;
    const e = Bf16Engine.get({ kind: "slerp", k: 1, masked: [], scale: [], consensus: false, normalize: false, lambda: false }, CHUNK)!;
    const acc = { sumAA: 0, sumBB: 0, sumAB: 0 };
    load(e, 0, [a1, b1]);
    e.sums(0, n, acc);
    load(e, 1, [a2, b2]);
    e.sums(1, CHUNK, acc);
    const want = slerpSums(bf16ToF32(a2), bf16ToF32(b2), slerpSums(bf16ToF32(a1), bf16ToF32(b1)));
    expect(acc).toEqual(want);
    e.setValues({ weights: [0], coef: [ca, cb] });
    expect(asU16(e.mix(0, n))).toEqual(Array.from(f32ToBf16(slerpApply(bf16ToF32(a1), bf16ToF32(b1), [ca, cb]))));
  });

  it("draws masks from the same stream as bernoulliMask, chunk after chunk, at the edge probabilities too", () => {
    const e = Bf16Engine.get({ kind: "task", k: 1, masked: [true], scale: [undefined], consensus: false, normalize: false, lambda: false }, CHUNK)!;
    for (const p of [0, 2 ** -32, 1e-9, 0.3, 0.5, 1 - 1e-12, 1]) {
      const rng = seededRng(7, "w", 0);
      e.setRngState(0, seededState(7, "w", 0));
      // Base 0 and model 1.0 everywhere: the output is 1.0 where kept, 0 where dropped.
      const one = new Uint16Array(CHUNK).fill(0x3f80);
      for (let chunk = 0; chunk < 3; chunk++) {
        load(e, 0, [new Uint16Array(CHUNK), one]);
        e.setValues({ weights: [1] });
        e.drawMask(0, CHUNK, p);
        const kept = asU16(e.mix(0, CHUNK)).map((x) => (x === 0x3f80 ? 1 : 0));
        expect(kept, `p=${p} chunk ${chunk}`).toEqual(Array.from(bernoulliMask({ length: CHUNK, p, rng })));
      }
    }
  });
});
