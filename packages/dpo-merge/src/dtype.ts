import { SafetensorsError } from "./errors.js";

/** Element types a safetensors header may name, with their size in bits (as in the Rust `Dtype::bitsize`). */
export const DTYPE_BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
  C64: 64,
} as const;

export type Dtype = keyof typeof DTYPE_BITS;

/** Dtypes this package decodes to and encodes from float32. */
export type FloatDtype = "F32" | "F16" | "BF16" | "F64";

export function isDtype(s: unknown): s is Dtype {
  return typeof s === "string" && Object.hasOwn(DTYPE_BITS, s);
}

export function isFloatDtype(d: Dtype): d is FloatDtype {
  return d === "F32" || d === "F16" || d === "BF16" || d === "F64";
}

/** Byte alignment used to order tensors in a written file (larger first), like the Rust writer. */
export function dtypeAlignment(d: Dtype): number {
  return Math.max(1, DTYPE_BITS[d] / 8);
}

// ---------------------------------------------------------------------------------------------------------
// bfloat16: the upper 16 bits of an IEEE binary32.

/** Quiet NaN written for every NaN input (torch's scalar `round_to_nearest_even` returns the same 0x7FC0). */
export const BF16_NAN = 0x7fc0;

/**
 * One float32 bit pattern to bfloat16 with round-to-nearest-even, as torch's `c10::BFloat16` does.
 * Infinities stay infinite, finite values too large round to ±Inf, and every NaN becomes {@link BF16_NAN}
 * (sign and payload are not kept: torch's vectorised kernels may keep them, so NaN payloads are not compared).
 */
export function f32BitsToBf16(u32: number): number {
  if ((u32 & 0x7fffffff) > 0x7f800000) return BF16_NAN;
  return ((u32 >>> 0) + 0x7fff + ((u32 >>> 16) & 1)) >>> 16;
}

/** A float32 array over memory that is not zeroed first (Node's unpooled unsafe allocation): for outputs whose every element is written. */
export function uninitF32(n: number): Float32Array<ArrayBuffer> {
  return new Float32Array(Buffer.allocUnsafeSlow(n * 4).buffer as ArrayBuffer, 0, n);
}

/** float32 array to bfloat16 bit patterns (round-to-nearest-even, NaN → 0x7FC0). */
export function f32ToBf16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? BF16_NAN : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return dst;
}

/** bfloat16 bit patterns to float32 (exact: the 16 bits become the top half). */
export function bf16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, src.length);
  const n = src.length;
  if (src.byteOffset % 4 === 0 && n > 1) {
    // Two bf16 per 32-bit load (little-endian: the first element is the low half).
    const pairs = new Uint32Array(src.buffer, src.byteOffset, n >>> 1);
    for (let k = 0; k < pairs.length; k++) {
      const x = pairs[k]!;
      u[2 * k] = x << 16;
      u[2 * k + 1] = x & 0xffff0000;
    }
    if (n & 1) u[n - 1] = src[n - 1]! << 16;
    return dst;
  }
  for (let i = 0; i < n; i++) u[i] = src[i]! << 16;
  return dst;
}

// ---------------------------------------------------------------------------------------------------------
// IEEE binary16.

let halfTable: Float32Array | undefined;

/** float16 bit pattern to its float32 value, exact (subnormals included; NaN payloads kept). */
export function f16BitsToF32(h: number): number {
  const s = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  let m = h & 0x3ff;
  let bits: number;
  if (e === 0x1f) bits = s | 0x7f800000 | (m << 13);
  else if (e !== 0) bits = s | ((e + 112) << 23) | (m << 13);
  else if (m === 0) bits = s;
  else {
    // Subnormal half: shift the significand up until its leading bit becomes the implicit one.
    let ex = 113;
    while ((m & 0x400) === 0) {
      m <<= 1;
      ex--;
    }
    bits = s | (ex << 23) | ((m & 0x3ff) << 13);
  }
  const f = new Float32Array(new Uint32Array([bits >>> 0]).buffer);
  return f[0]!;
}

function table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = f16BitsToF32(h);
  }
  return halfTable;
}

/** Quiet NaN (with the input's sign) written for NaN inputs, as torch's `fp16_ieee_from_fp32_value`. */
export const F16_NAN = 0x7e00;

/**
 * One float32 bit pattern to float16 with round-to-nearest-even (overflow → ±Inf, underflow through the
 * subnormals to ±0). NaN becomes sign | 0x7E00.
 */
export function f32BitsToF16(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const fexp = f & 0x7f800000;
  let fsig = f & 0x007fffff;
  if (fexp >= 0x47800000) {
    if (fexp === 0x7f800000 && fsig !== 0) return sign | F16_NAN;
    return sign | 0x7c00;
  }
  if (fexp <= 0x38000000) {
    if (fexp < 0x33000000) return sign;
    const e = fexp >>> 23;
    fsig |= 0x00800000;
    const lost = fsig & ((1 << (113 - e)) - 1);
    fsig >>>= 113 - e;
    // Round half to even: add half an ulp unless exactly half and the kept lsb is already even.
    if ((fsig & 0x3fff) !== 0x1000 || lost !== 0) fsig += 0x1000;
    return sign | (fsig >>> 13);
  }
  const hexp = (fexp - 0x38000000) >>> 13;
  if ((fsig & 0x3fff) !== 0x1000) fsig += 0x1000;
  // A carry out of the significand bumps the exponent, up to Inf: that is the right result.
  return sign | ((hexp + (fsig >>> 13)) & 0xffff);
}

export function f16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = table();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]!]!;
  return dst;
}

export function f32ToF16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) dst[i] = f32BitsToF16(u[i]!);
  return dst;
}

// ---------------------------------------------------------------------------------------------------------

function view<T>(bytes: Uint8Array, width: number, make: (b: ArrayBufferLike, off: number, n: number) => T): T {
  if (bytes.byteOffset % width !== 0) bytes = bytes.slice();
  return make(bytes.buffer, bytes.byteOffset, bytes.byteLength / width);
}

/**
 * Little-endian tensor bytes of a float dtype to float32 (F64 is rounded to nearest).
 * @throws {SafetensorsError} `UNSUPPORTED_DTYPE` for non-float dtypes.
 */
export function decodeToF32(dtype: Dtype, bytes: Uint8Array): Float32Array {
  switch (dtype) {
    case "F32":
      return view(bytes, 4, (b, o, n) => new Float32Array(b, o, n));
    case "BF16":
      return bf16ToF32(view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n)));
    case "F16":
      return f16ToF32(view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n)));
    case "F64":
      return Float32Array.from(view(bytes, 8, (b, o, n) => new Float64Array(b, o, n)));
    default:
      throw new SafetensorsError(`cannot decode ${dtype} as float`, { code: "UNSUPPORTED_DTYPE" });
  }
}

/**
 * float32 values to the little-endian bytes of a float dtype (BF16/F16 round to nearest even).
 * @throws {SafetensorsError} `UNSUPPORTED_DTYPE` for non-float dtypes.
 */
export function encodeFromF32(dtype: Dtype, data: Float32Array): Uint8Array {
  switch (dtype) {
    case "F32":
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    case "BF16": {
      const out = f32ToBf16(data, new Uint16Array(Buffer.allocUnsafeSlow(data.length * 2).buffer, 0, data.length));
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    case "F16": {
      const out = f32ToF16(data);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    case "F64": {
      const out = Float64Array.from(data);
      return new Uint8Array(out.buffer);
    }
    default:
      throw new SafetensorsError(`cannot encode ${dtype} from float`, { code: "UNSUPPORTED_DTYPE" });
  }
}
