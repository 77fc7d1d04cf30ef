// WebAssembly kernels for the passes TIES trimming and the L1 rescale need before the merge itself (added to
// the bf16 module of `bf16-kernels.ts`, so they read the same input buffers). Each works on one model's bf16
// chunk against the base chunk: the delta is f32(θ_i) − f32(θ_b), rounded to float32 exactly as the
// JavaScript path stores it in a Float32Array, and its magnitude is taken on the bit pattern (|x| bits order
// like |x| for every float32, NaN above +Inf), as `TopKCut` does. Eight elements at a time on SIMD lanes,
// element by element where the order matters (ties at the cut, float64 sums) and for the last < 8 elements.
import { wasmAsm } from "@sfmed/schema/io";

const { F64, FnBuilder, I32, op, V128, v } = wasmAsm;
type FnBuilder = wasmAsm.FnBuilder;

const { get, set } = op;

/** A loop over byte offsets i = from, from + step, … < to; `body` is emitted inside. */
const loop = (i: number, from: number[], to: number[], step: number, body: number[]) => [
  ...from, ...set(i), ...op.block, ...op.loop, ...get(i), ...to, ...op.i32GeU, ...op.brIf(1),
  ...body,
  ...get(i), ...op.i32(step), ...op.i32Add, ...set(i), ...op.br(0), ...op.end, ...op.end,
];
/** The float32 value of the bf16 element at byte offset `base + i`. */
const widen = (base: number, i: number) => [...get(base), ...get(i), ...op.i32Add, ...op.i32Load16u(), ...op.i32(16), ...op.i32Shl, ...op.f32ReinterpretI32];
/** f32(θ_i) − f32(θ_b) on the stack. */
const delta = (b: number, m: number, i: number) => [...widen(m, i), ...widen(b, i), ...op.f32Sub];
/** The |delta| bit pattern on the stack. */
const magBits = (b: number, m: number, i: number) => [...delta(b, m, i), ...op.i32ReinterpretF32, ...op.i32(0x7fffffff), ...op.i32And];
/** hist[idx] += 1 for the u32 counters at `hist`, with the byte offset of idx (4·idx) on the stack. */
const bump = (hist: number, a: number) => [...get(hist), ...op.i32Add, ...op.tee(a), ...get(a), ...op.i32Load(), ...op.i32(1), ...op.i32Add, ...op.i32Store()];

/** SIMD helpers of one function: the |δ| bits of elements i … i+3 (h = 0) or i+4 … i+7 (h = 1) into local `out`. */
function simdMag(f: FnBuilder, b: number, m: number) {
  const ABS = f.local(V128), MB = f.local(V128), BB = f.local(V128);
  const init = [...v.i32x4Const(0x7fffffff), ...set(ABS)];
  const load = (i: number) => [...get(m), ...get(i), ...op.i32Add, ...v.load(), ...set(MB), ...get(b), ...get(i), ...op.i32Add, ...v.load(), ...set(BB)];
  const ext = (x: number, h: number) => [...get(x), ...(h ? v.i32x4ExtendHighI16x8U : v.i32x4ExtendLowI16x8U), ...op.i32(16), ...v.i32x4Shl];
  const mag = (h: number, out: number) => [...ext(MB, h), ...ext(BB, h), ...v.f32x4Sub, ...get(ABS), ...v.and, ...set(out)];
  return { init, load, mag };
}

/** histHi(bOff, mOff, nBytes, hist): count the high 16 bits of |δ| (32768 u32 counters). */
export function histHiFn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32]);
  const [b, m, n, hist] = [0, 1, 2, 3];
  const i = f.local(I32), a = f.local(I32), D0 = f.local(V128), D1 = f.local(V128);
  const s = simdMag(f, b, m);
  // Byte offsets of the counters, 4·(|δ| >> 16), computed on the lanes, then one scalar increment per lane.
  const index = (d: number) => [...get(d), ...op.i32(14), ...v.i32x4ShrU, ...v.i32x4Const(-4), ...v.and, ...set(d)];
  const lanes = (d: number) => [0, 1, 2, 3].flatMap((l) => [...get(d), ...v.i32x4ExtractLane(l), ...bump(hist, a)]);
  const simdEnd = [...get(n), ...op.i32(-16), ...op.i32And];
  f.emit(s.init, loop(i, op.i32(0), simdEnd, 16, [...s.load(i), ...s.mag(0, D0), ...s.mag(1, D1), ...index(D0), ...index(D1), ...lanes(D0), ...lanes(D1)]));
  f.emit(loop(i, simdEnd, get(n), 2, [...magBits(b, m, i), ...op.i32(14), ...op.i32ShrU, ...op.i32(-4), ...op.i32And, ...bump(hist, a)]));
  return f;
}

/** histLo(bOff, mOff, nBytes, hist, bucket): count the low 16 bits of the |δ| whose high 16 bits are `bucket`. */
export function histLoFn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32, I32]);
  const [b, m, n, hist, bucket] = [0, 1, 2, 3, 4];
  const i = f.local(I32), j = f.local(I32), a = f.local(I32), d = f.local(I32), D0 = f.local(V128), D1 = f.local(V128), BK = f.local(V128);
  const s = simdMag(f, b, m);
  const scalar = (from: number[], to: number[]) =>
    loop(j, from, to, 2, [...magBits(b, m, j), ...op.tee(d), ...op.i32(16), ...op.i32ShrU, ...get(bucket), ...op.i32Eq, ...op.if, ...get(d), ...op.i32(0xffff), ...op.i32And, ...op.i32(2), ...op.i32Shl, ...bump(hist, a), ...op.end]);
  const inBucket = (x: number) => [...get(x), ...op.i32(16), ...v.i32x4ShrU, ...get(BK), ...v.i32x4Eq];
  const simdEnd = [...get(n), ...op.i32(-16), ...op.i32And];
  // Few elements fall in the bucket: test eight at a time, count them one by one only where one does.
  f.emit(s.init, get(bucket), v.i32x4Splat, set(BK));
  f.emit(loop(i, op.i32(0), simdEnd, 16, [...s.load(i), ...s.mag(0, D0), ...s.mag(1, D1), ...inBucket(D0), ...inBucket(D1), ...v.or, ...v.anyTrue, ...op.if, ...scalar(get(i), [...get(i), ...op.i32(16), ...op.i32Add]), ...op.end]));
  f.emit(scalar(simdEnd, get(n)));
  return f;
}

/**
 * cut(bOff, mOff, nBytes, maskOff, thr, tieOff): mask byte 0xFF where |δ| bits > thr, or = thr while the i32
 * at tieOff (ties still to keep) is non-zero, which it then decrements; else 0 — `TopKCut.mask` in index order.
 */
export function cutFn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32]);
  const [b, m, n, mask, thr, tie] = [0, 1, 2, 3, 4, 5];
  const i = f.local(I32), j = f.local(I32), d = f.local(I32), keep = f.local(I32), r = f.local(I32);
  const D0 = f.local(V128), D1 = f.local(V128), TH = f.local(V128);
  const s = simdMag(f, b, m);
  const maskAt = (x: number) => [...get(mask), ...get(x), ...op.i32(1), ...op.i32ShrU, ...op.i32Add];
  const scalar = (from: number[], to: number[]) =>
    loop(j, from, to, 2, [
      ...magBits(b, m, j), ...op.tee(d), ...get(thr), ...op.i32GtU, ...set(keep),
      ...get(d), ...get(thr), ...op.i32Eq, ...op.if, ...get(tie), ...op.i32Load(), ...op.tee(r), ...op.if,
      ...op.i32(1), ...set(keep), ...get(tie), ...get(r), ...op.i32(1), ...op.i32Sub, ...op.i32Store(), ...op.end, ...op.end,
      ...maskAt(j), ...op.i32(0), ...get(keep), ...op.i32Sub, ...op.i32Store8(),
    ]);
  const atCut = (x: number) => [...get(x), ...get(TH), ...v.i32x4Eq];
  const above = (x: number) => [...get(x), ...get(TH), ...v.i32x4GtU];
  const simdEnd = [...get(n), ...op.i32(-16), ...op.i32And];
  // Eight lanes above the cut or not, narrowed to eight mask bytes; a group with an element at the cut goes
  // element by element, in index order, so ties are kept for the lowest indices.
  f.emit(s.init, get(thr), v.i32x4Splat, set(TH));
  f.emit(loop(i, op.i32(0), simdEnd, 16, [
    ...s.load(i), ...s.mag(0, D0), ...s.mag(1, D1),
    ...atCut(D0), ...atCut(D1), ...v.or, ...v.anyTrue, ...op.if,
    ...scalar(get(i), [...get(i), ...op.i32(16), ...op.i32Add]),
    ...op.else,
    ...maskAt(i), ...above(D0), ...above(D1), ...v.i16x8NarrowI32x4S, ...above(D0), ...above(D1), ...v.i16x8NarrowI32x4S, ...v.i8x16NarrowI16x8S, ...v.store64Lane(0),
    ...op.end,
  ]));
  f.emit(scalar(simdEnd, get(n)));
  return f;
}

/**
 * l1(bOff, mOff, maskOff, nBytes, acc): add |δ| (float64) to the float64 at acc and, where the mask byte is
 * non-zero, to the one at acc + 8 — element after element, the order of the JavaScript sums.
 */
export function l1Fn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32, I32]);
  const [b, m, mask, n, acc] = [0, 1, 2, 3, 4];
  const i = f.local(I32), x = f.local(F64), before = f.local(F64), after = f.local(F64);
  f.emit(get(acc), op.f64Load(0), set(before), get(acc), op.f64Load(8), set(after));
  f.emit(loop(i, op.i32(0), get(n), 2, [
    ...delta(b, m, i), ...op.f32Abs, ...op.f64PromoteF32, ...op.tee(x), ...get(before), ...op.f64Add, ...set(before),
    // Branch-free: where the mask is 0, add +0 (after ≥ +0 or NaN, so the sum is unchanged).
    ...get(after), ...get(x), ...op.f64(0), ...get(mask), ...get(i), ...op.i32(1), ...op.i32ShrU, ...op.i32Add, ...op.i32Load8u(), ...op.select, ...op.f64Add, ...set(after),
  ]));
  f.emit(get(acc), get(before), op.f64Store(0), get(acc), get(after), op.f64Store(8));
  return f;
}
