import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  BF16_NAN,
  bf16ToF32,
  decodeToF32,
  encodeFromF32,
  f16BitsToF32,
  f16ToF32,
  f32BitsToBf16,
  f32BitsToF16,
  f32ToBf16,
  f32ToF16,
} from "./dtype.js";

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0]!;
const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]!;
const bf16Val = (h: number) => f32((h & 0xffff) << 16);

/** Reference rounding computed in float64: nearest of the two bracketing bf16 magnitudes, ties to even. */
function refBf16(u: number): number {
  const sign = u & 0x80000000 ? 0x8000 : 0;
  const mag = u & 0x7fffffff;
  if (mag === 0x7f800000) return sign | 0x7f80;
  const lo = mag >>> 16;
  const x = f32(mag);
  const loVal = bf16Val(lo);
  if (x === loVal) return sign | lo;
  const hiVal = lo === 0x7f7f ? 2 ** 128 : bf16Val(lo + 1);
  const dLo = x - loVal;
  const dHi = hiVal - x;
  const pick = dLo < dHi ? lo : dHi < dLo ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return sign | pick;
}

describe("bfloat16", () => {
  it("rounds the documented ties to even and keeps specials", () => {
    expect(f32BitsToBf16(bitsOf(1))).toBe(0x3f80);
    expect(f32BitsToBf16(bitsOf(1 + 2 ** -8))).toBe(0x3f80); // tie, even stays
    expect(f32BitsToBf16(bitsOf(1 + 3 * 2 ** -8))).toBe(0x3f82); // tie, odd rounds up (truncation gives 0x3F81)
    expect(f32BitsToBf16(bitsOf(1 + 2 ** -8 + 2 ** -20))).toBe(0x3f81); // above the tie
    expect(f32BitsToBf16(bitsOf(-0))).toBe(0x8000);
    expect(f32BitsToBf16(bitsOf(Infinity))).toBe(0x7f80);
    expect(f32BitsToBf16(bitsOf(-Infinity))).toBe(0xff80);
    expect(f32BitsToBf16(0x7f7fffff)).toBe(0x7f80); // FLT_MAX overflows to +Inf
    expect(f32BitsToBf16(0x7f7f7fff)).toBe(0x7f7f);
    expect(f32BitsToBf16(0x00008000)).toBe(0x0000); // subnormal tie to even (down)
    expect(f32BitsToBf16(0x00018000)).toBe(0x0002); // subnormal tie to even (up)
    expect(f32BitsToBf16(0x7fc00001)).toBe(BF16_NAN);
    expect(f32BitsToBf16(0xffffffff)).toBe(BF16_NAN);
    expect(f32BitsToBf16(0x7f800001)).toBe(BF16_NAN); // signalling NaN must not round to Inf
  });

  it("round-trips every non-NaN bf16 pattern exactly", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToBf16(bf16ToF32(all));
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const isNan = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      if (back[h] !== (isNan ? BF16_NAN : h)) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  test.prop([fc.integer({ min: 0, max: 0xffffffff })], { numRuns: 20000 })("matches the float64 nearest-even reference", (u) => {
    fc.pre((u & 0x7fffffff) <= 0x7f800000);
    expect(f32BitsToBf16(u)).toBe(refBf16(u));
  });

  test.prop([fc.array(fc.float({ noNaN: true }), { maxLength: 64 })])("bulk conversion equals the scalar one", (xs) => {
    const a = new Float32Array(xs);
    const out = f32ToBf16(a);
    xs.forEach((x, i) => expect(out[i]).toBe(f32BitsToBf16(bitsOf(x))));
  });
});

/** All finite non-negative f16 values are increasing in their bit patterns 0x0000..0x7BFF. */
function refF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity || a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (f16BitsToF32(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  const loVal = f16BitsToF32(lo);
  if (loVal === a || lo === 0x7bff) return sign | (a - loVal <= 65520 - a ? lo : 0x7c00);
  const hiVal = f16BitsToF32(lo + 1);
  const pick = a - loVal < hiVal - a ? lo : hiVal - a < a - loVal ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return sign | pick;
}

describe("float16", () => {
  it("converts known values like torch", () => {
    expect(f32BitsToF16(bitsOf(0.1))).toBe(0x2e66);
    expect(f32BitsToF16(bitsOf(65504))).toBe(0x7bff);
    expect(f32BitsToF16(bitsOf(65519.99))).toBe(0x7bff);
    expect(f32BitsToF16(bitsOf(65520))).toBe(0x7c00);
    expect(f32BitsToF16(bitsOf(1e-8))).toBe(0);
    expect(f32BitsToF16(bitsOf(3e-8))).toBe(1);
    expect(f32BitsToF16(bitsOf(2 ** -25))).toBe(0); // tie between 0 and the smallest subnormal
    expect(f32BitsToF16(bitsOf(3 * 2 ** -25))).toBe(2); // tie between 1 and 2 → even
    expect(f32BitsToF16(bitsOf(-2))).toBe(0xc000);
    expect(f32BitsToF16(0xffc00000)).toBe(0xfe00);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16BitsToF32(0x3c00)).toBe(1);
  });

  it("round-trips every non-NaN f16 pattern exactly", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      if (back[h] !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  test.prop([fc.float({ noNaN: true })], { numRuns: 20000 })("matches the nearest-even reference", (x) => {
    expect(f32BitsToF16(bitsOf(x))).toBe(refF16(x));
  });

  test.prop([fc.float({ noNaN: true, min: -70000, max: 70000 })], { numRuns: 5000 })("matches the reference in the normal range", (x) => {
    expect(f32BitsToF16(bitsOf(x))).toBe(refF16(x));
  });
});

describe("decode/encode", () => {
  test.prop([fc.array(fc.float({ noNaN: true }), { maxLength: 32 })])("F32, BF16, F16 and F64 round-trip through bytes", (xs) => {
    const a = new Float32Array(xs);
    expect([...decodeToF32("F32", encodeFromF32("F32", a))]).toEqual([...a]);
    expect([...decodeToF32("F64", encodeFromF32("F64", a))]).toEqual([...a]);
    expect([...decodeToF32("BF16", encodeFromF32("BF16", a))]).toEqual([...bf16ToF32(f32ToBf16(a))]);
    expect([...decodeToF32("F16", encodeFromF32("F16", a))]).toEqual([...f16ToF32(f32ToF16(a))]);
  });

  it("decodes from an unaligned byte view", () => {
    const bytes = new Uint8Array(9);
    bytes.set(encodeFromF32("F32", new Float32Array([1.5, -2])), 1);
    expect([...decodeToF32("F32", bytes.subarray(1))]).toEqual([1.5, -2]);
  });

  it("refuses integer dtypes", () => {
    expect(() => decodeToF32("I64", new Uint8Array(8))).toThrow(expect.objectContaining({ name: "SafetensorsError", code: "UNSUPPORTED_DTYPE" }));
  });
});
