// The generator of the bf16 merge kernel `mix` of `bf16-kernels.ts` (see there for what it computes): per
// 8 elements, widen each input, merge in float32 in the order of the JavaScript operators, round back to bf16.
import { wasmAsm } from "@sfmed/schema/io";
import type { Layout, MixSpec } from "./bf16-kernels.js";
import { BF16_NAN } from "./dtype.js";

const { FnBuilder, I32, op, V128, v } = wasmAsm;
type FnBuilder = wasmAsm.FnBuilder;

const ZERO16 = new Array<number>(16).fill(0);

/** float32 constant slots (byte offset 4·slot). */
const slot = { w: (i: number) => 4 * i, s: (k: number, i: number) => 4 * (k + i), wsum: (k: number) => 8 * k, lambda: (k: number) => 8 * k + 4, ca: (k: number) => 8 * k + 8, cb: (k: number) => 8 * k + 12 };

/** The locals of the mix kernel: constants loaded once, per-model values, and the per-iteration vectors. */
interface MixLocals {
  ZERO: number;
  ONE: number;
  C7FFF: number;
  C1: number;
  CABS: number;
  CINF: number;
  CNAN: number;
  /** Per model: the weight and scale (float32 splats), the weight as float64 (linear's multiply-adds). */
  W: number[];
  S: number[];
  WD: number[];
  WSUM: number;
  LAMBDA: number;
  CA: number;
  CB: number;
  /** The inputs' 8 bf16 lanes; the models' 8 mask bytes (-1: no mask); the models' weighted deltas. */
  IN: number[];
  MK: number[];
  D: number[];
  B: number;
  SUM: number;
  POS: number;
  MIX: number;
  DIV: number;
  AG: number;
  T: number;
  ACC: number;
}

const HI = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
const CAT = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
/** float32 lanes of half h (0: elements 0–3, 1: 4–7) of the 8 bf16 lanes in local x. */
const widen8 = (x: number, h: number) => [...op.get(x), ...(h ? v.i32x4ExtendHighI16x8U : v.i32x4ExtendLowI16x8U), ...op.i32(16), ...v.i32x4Shl];

/** Allocate the mix kernel's locals and load its constants (locals in a fixed order, so the bytes are stable). */
function mixLocals(f: FnBuilder, spec: MixSpec, L: Layout): MixLocals {
  const k = spec.k;
  const { set } = op;
  const V = () => f.local(V128);
  const ZERO = V(), ONE = V(), C7FFF = V(), C1 = V(), CABS = V(), CINF = V(), CNAN = V();
  f.emit(v.const(ZERO16), set(ZERO), v.i32x4Const(0x3f800000), set(ONE), v.i32x4Const(0x7fff), set(C7FFF), v.i32x4Const(1), set(C1));
  f.emit(v.i32x4Const(0x7fffffff), set(CABS), v.i32x4Const(0x7f800000), set(CINF), v.i32x4Const(BF16_NAN), set(CNAN));
  const W: number[] = [], S: number[] = [], WD: number[] = [];
  for (let i = 0; i < k; i++) {
    W.push(V());
    f.emit(op.i32(0), v.load32Splat(slot.w(i)), set(W[i]!));
    S.push(V());
    f.emit(op.i32(0), v.load32Splat(slot.s(k, i)), set(S[i]!));
    WD.push(V());
    f.emit(op.i32(0), v.load64Splat(L.f64 + 8 * i), set(WD[i]!));
  }
  const WSUM = V(), LAMBDA = V(), CA = V(), CB = V();
  f.emit(op.i32(0), v.load32Splat(slot.wsum(k)), set(WSUM), op.i32(0), v.load32Splat(slot.lambda(k)), set(LAMBDA));
  f.emit(op.i32(0), v.load32Splat(slot.ca(k)), set(CA), op.i32(0), v.load32Splat(slot.cb(k)), set(CB));
  const IN: number[] = Array.from({ length: L.nIn }, () => V());
  const MK: number[] = spec.kind === "task" ? spec.masked.map((m) => (m ? V() : -1)) : [];
  const D: number[] = Array.from({ length: k }, () => V());
  const B = V(), SUM = V(), POS = V(), MIX = V(), DIV = V(), AG = V(), T = V(), ACC = V();
  return { ZERO, ONE, C7FFF, C1, CABS, CINF, CNAN, W, S, WD, WSUM, LAMBDA, CA, CB, IN, MK, D, B, SUM, POS, MIX, DIV, AG, T, ACC };
}

/** linear: first product rounded to float32; then each multiply-add in float64 (exact product), rounded once. */
function linearHalf(f: FnBuilder, spec: MixSpec, x: MixLocals, h: number, u: number): void {
  const { get, set } = op;
  const { IN, W, WD, T, ACC } = x;
  f.emit(widen8(IN[0]!, h), get(W[0]!), v.f32x4Mul, set(ACC));
  for (let i = 1; i < spec.k; i++) {
    f.emit(widen8(IN[i]!, h), set(T));
    f.emit(get(ACC), v.f64x2PromoteLowF32x4, get(T), v.f64x2PromoteLowF32x4, get(WD[i]!), v.f64x2Mul, v.f64x2Add, v.f32x4DemoteF64x2Zero);
    f.emit(get(ACC), get(ACC), v.shuffle(HI), v.f64x2PromoteLowF32x4, get(T), get(T), v.shuffle(HI), v.f64x2PromoteLowF32x4, get(WD[i]!), v.f64x2Mul, v.f64x2Add, v.f32x4DemoteF64x2Zero);
    f.emit(v.shuffle(CAT), set(ACC));
  }
  f.emit(get(ACC));
  if (spec.normalize) f.emit(get(x.WSUM), v.f32x4Div);
  f.emit(set(u));
}

/** task: base + λ · (consensus or plain) mix of the scaled, masked, weighted deltas. */
function taskHalf(f: FnBuilder, spec: MixSpec, x: MixLocals, h: number, u: number): void {
  const { get, set } = op;
  const { ZERO, IN, W, S, MK, D, B, SUM } = x;
  f.emit(widen8(IN[0]!, h), set(B));
  for (let i = 0; i < spec.k; i++) {
    f.emit(widen8(IN[i + 1]!, h), get(B), v.f32x4Sub);
    if (spec.scale[i] === "div") f.emit(get(S[i]!), v.f32x4Div);
    else if (spec.scale[i] === "mul") f.emit(get(S[i]!), v.f32x4Mul);
    if (spec.masked[i]) f.emit(get(MK[i]!), h ? v.i32x4ExtendHighI16x8U : v.i32x4ExtendLowI16x8U, get(ZERO), v.i32x4Ne, v.and);
    f.emit(get(W[i]!), v.f32x4Mul, set(D[i]!));
    if (i === 0) f.emit(get(ZERO), get(D[0]!), v.f32x4Add, set(SUM));
    else f.emit(get(SUM), get(D[i]!), v.f32x4Add, set(SUM));
  }
  if (spec.consensus) consensusMix(f, spec, x);
  else {
    f.emit(get(SUM));
    if (spec.normalize) f.emit(get(x.WSUM), v.f32x4Div);
  }
  if (spec.lambda) f.emit(get(x.LAMBDA), v.f32x4Mul);
  f.emit(get(B), v.f32x4Add, set(u));
}

/** TIES sign election and disjoint (weighted) mean of the deltas in D, left on the stack. */
function consensusMix(f: FnBuilder, spec: MixSpec, x: MixLocals): void {
  const { get, set } = op;
  const { ZERO, ONE, W, D, SUM, POS, MIX, DIV, AG } = x;
  f.emit(get(SUM), get(ZERO), v.f32x4Ge, set(POS), get(ZERO), set(MIX), get(ZERO), set(DIV));
  for (let i = 0; i < spec.k; i++) {
    // Agrees when sign(d) is the elected sign: d > 0 where the sum is ≥ 0, d < 0 elsewhere (zeros never).
    f.emit(get(D[i]!), get(ZERO), v.f32x4Gt, get(D[i]!), get(ZERO), v.f32x4Lt, get(POS), v.bitselect, set(AG));
    f.emit(get(MIX), get(D[i]!), v.f32x4Add, get(MIX), get(AG), v.bitselect, set(MIX));
    if (spec.normalize) f.emit(get(DIV), get(W[i]!), v.f32x4Add, get(DIV), get(AG), v.bitselect, set(DIV));
  }
  f.emit(get(MIX));
  if (spec.normalize) f.emit(get(ONE), get(DIV), get(DIV), get(ZERO), v.f32x4Eq, v.bitselect, v.f32x4Div);
}

/** bf16 bits of the float32 lanes in local u: (u + 0x7FFF + ((u >> 16) & 1)) >> 16, NaN → 0x7FC0. */
function narrowBf16(x: MixLocals, u: number): number[] {
  const { get } = op;
  return [
    ...get(x.CNAN),
    ...get(u), ...get(x.C7FFF), ...v.i32x4Add, ...get(u), ...op.i32(16), ...v.i32x4ShrU, ...get(x.C1), ...v.and, ...v.i32x4Add, ...op.i32(16), ...v.i32x4ShrU,
    ...get(u), ...get(x.CABS), ...v.and, ...get(x.CINF), ...v.i32x4GtU,
    ...v.bitselect,
  ];
}

/** mix(inOff, maskOff, outOff, bytes): merge `bytes / 2` elements (a multiple of 8) of the inputs at inOff + i·stride. */
export function mixFn(spec: MixSpec, L: Layout): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32]);
  const [inOff, maskOff, outOff, nBytes] = [0, 1, 2, 3];
  const j = f.local(I32);
  const mj = f.local(I32);
  const { get, set } = op;
  const x = mixLocals(f, spec, L);
  const U0 = f.local(V128), U1 = f.local(V128);
  /** The merged float32 lanes of half h, left in local `u`. */
  const half = (h: number, u: number) => {
    if (spec.kind === "slerp") f.emit(get(x.CA), widen8(x.IN[0]!, h), v.f32x4Mul, get(x.CB), widen8(x.IN[1]!, h), v.f32x4Mul, v.f32x4Add, set(u));
    else if (spec.kind === "linear") linearHalf(f, spec, x, h, u);
    else taskHalf(f, spec, x, h, u);
  };
  f.emit(op.i32(0), set(j), op.i32(0), set(mj), op.block, op.loop, get(j), get(nBytes), op.i32GeU, op.brIf(1));
  for (let i = 0; i < L.nIn; i++) f.emit(get(inOff), get(j), op.i32Add, v.load(i * L.stride), set(x.IN[i]!));
  for (let i = 0; i < x.MK.length; i++) if (x.MK[i]! >= 0) f.emit(get(maskOff), get(mj), op.i32Add, v.load8x8u(i * L.mstride), set(x.MK[i]!));
  half(0, U0);
  half(1, U1);
  f.emit(get(outOff), get(j), op.i32Add, narrowBf16(x, U0), narrowBf16(x, U1), v.i16x8NarrowI32x4U, v.store());
  f.emit(get(j), op.i32(16), op.i32Add, set(j), get(mj), op.i32(8), op.i32Add, set(mj), op.br(0), op.end, op.end);
  return f;
}
