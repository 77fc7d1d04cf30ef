import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { Checkpoint, CheckpointWriter } from "./checkpoint.js";
import { bf16ToF32, encodeFromF32, f32ToBf16, type FloatDtype } from "./dtype.js";
import { bf16Plan } from "./merge-bf16.js";
import { mergeTensor, type MergedChunk, type TensorMergeParams } from "./merge-tensor.js";
import type { RescaleMode } from "./sparsify.js";

// The bf16 Wasm path of mergeTensor (TIES cut, L1 rescale, DARE, task arithmetic) against the float32
// JavaScript path it replaces: the same output bytes, on random tensors in every input dtype.

/** bf16 bit patterns: anything (NaN, ±Inf, ±0, subnormals), values near ±1, or a few values so magnitudes tie. */
const anyBits = fc.integer({ min: 0, max: 0xffff });
const nearOne = fc.oneof(fc.integer({ min: 0x3f00, max: 0x4000 }), fc.integer({ min: 0xbf00, max: 0xc000 }));
const fewValues = fc.constantFrom(0x3f80, 0xbf80, 0x4000, 0xc000, 0x3f00, 0xbf00, 0x0000, 0x8000);
const edge = fc.constantFrom(0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x7f81, 0x0000, 0x8000, 0x0001, 0x8001);
const palette = fc.constantFrom("any", "near", "few", "mixed");
const bitsOf = (p: string) => (p === "any" ? anyBits : p === "near" ? nearOne : p === "few" ? fewValues : fc.oneof({ weight: 4, arbitrary: nearOne }, { weight: 1, arbitrary: edge }, { weight: 2, arbitrary: fewValues }));

const dtypeArb = fc.oneof({ weight: 6, arbitrary: fc.constant("BF16" as FloatDtype) }, { weight: 1, arbitrary: fc.constantFrom<FloatDtype>("F16", "F32") });

const caseArb = fc
  .record({ k: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 1, max: 300 }), palette })
  .chain(({ k, n, palette: pal }) =>
    fc.record({
      n: fc.constant(n),
      inputs: fc.array(fc.array(bitsOf(pal), { minLength: n, maxLength: n }), { minLength: k + 1, maxLength: k + 1 }),
      dtypes: fc.array(dtypeArb, { minLength: k + 1, maxLength: k + 1 }),
      outDtype: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom<FloatDtype>("BF16", "F32", "F16") }),
      method: fc.constantFrom<TensorMergeParams["method"]>("ties", "ties", "ties", "dare_ties", "dare_linear", "task_arithmetic"),
      weights: fc.array(fc.oneof(fc.constantFrom(1, 0.5, -1, 0), fc.double({ min: -2, max: 2, noNaN: true })), { minLength: k, maxLength: k }),
      density: fc.constantFrom(0, 0.01, 0.1, 0.3, 0.5, 0.9, 1),
      rescale: fc.constantFrom<RescaleMode>("l1", "l1", "none", "inverse_keep"),
      normalize: fc.boolean(),
      lambda: fc.constantFrom(1, 0.7),
      chunk: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(1 << 20)),
      seed: fc.nat(1000),
    }),
  );

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

async function writeInput(dir: string, bits: number[], dtype: FloatDtype): Promise<Checkpoint> {
  await mkdir(dir, { recursive: true });
  const w = await CheckpointWriter.create({ dir, tensors: [{ name: "t", dtype, shape: [bits.length] }] });
  const u = Uint16Array.from(bits);
  await w.write("t", dtype === "BF16" ? u : bf16ToF32(u));
  await w.close();
  return Checkpoint.open(dir);
}

/** The merged tensor as output-dtype bytes (float32 chunks encoded the way the writer encodes them). */
async function merged(c: Case, cks: Checkpoint[], wasm: boolean): Promise<number[]> {
  const p: TensorMergeParams = { ...c, t: 0.5, hasBase: true, outDtype: c.outDtype, wasm };
  const parts: Array<[number, MergedChunk]> = [];
  await mergeTensor("t", p, cks[0]!, cks.slice(1), async (start, data) => {
    parts.push([start, data instanceof Float32Array ? Float32Array.from(data) : Uint8Array.from(data)]);
  });
  const dtype = c.outDtype ?? cks[0]!.info("t").dtype;
  const bytes: number[] = [];
  for (const [, d] of parts.sort((a, b) => a[0] - b[0])) bytes.push(...(d instanceof Float32Array ? encodeFromF32(dtype, d) : d));
  return bytes;
}

describe("bf16 Wasm merge path", () => {
  test.prop([caseArb], { numRuns: 120, endOnFailure: true })("writes the same bytes as the float32 JavaScript path", async (c) => {
    const dir = await tempDir("sfmed-merge-bf16-");
    const cks = await Promise.all(c.inputs.map((bits, i) => writeInput(path.join(dir, `in${i}`), bits, c.dtypes[i]!)));
    try {
      const p: TensorMergeParams = { ...c, t: 0.5, hasBase: true, outDtype: c.outDtype };
      const allBf16 = c.dtypes.every((d) => d === "BF16") && (c.outDtype ?? "BF16") === "BF16";
      // The property is only worth something if the fast path really runs where it should.
      expect(bf16Plan("t", p, cks[0]!, cks.slice(1)) !== undefined).toBe(allBf16 && c.dtypes[0] === "BF16");
      expect(await merged(c, cks, true)).toEqual(await merged(c, cks, false));
    } finally {
      await Promise.all(cks.map((ck) => ck.close()));
    }
  });

  it("keeps the lowest indices among magnitudes tied at the cut, across chunks, and elects + on a zero sum", async () => {
    const dir = await tempDir("sfmed-merge-bf16-");
    // Base 0; model 0 deltas all ±1 (every magnitude ties), model 1 the opposite signs: Σ = 0 elects +.
    const n = 100;
    const one = f32ToBf16(Float32Array.of(1))[0]!, minus = f32ToBf16(Float32Array.of(-1))[0]!;
    const m0 = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? minus : one));
    const m1 = m0.map((b) => (b === one ? minus : one));
    const cks = await Promise.all([new Array<number>(n).fill(0), m0, m1].map((bits, i) => writeInput(path.join(dir, `in${i}`), bits, "BF16")));
    try {
      const c = { n, inputs: [], dtypes: [], outDtype: undefined, method: "ties", weights: [1, 1], density: 0.3, rescale: "none", normalize: true, lambda: 1, chunk: 7, seed: 0 } as unknown as Case;
      const got = bf16ToF32(new Uint16Array(Uint8Array.from(await merged(c, cks, true)).buffer));
      // Both keep indices 0..29; there m0 + m1 = 0 → +, so the +1 entry survives, divided by its weight.
      const want = Array.from({ length: n }, (_, i) => (i < 30 ? 1 : 0));
      expect(Array.from(got)).toEqual(want);
      expect(await merged(c, cks, true)).toEqual(await merged(c, cks, false));
    } finally {
      await Promise.all(cks.map((ck) => ck.close()));
    }
  });
});
