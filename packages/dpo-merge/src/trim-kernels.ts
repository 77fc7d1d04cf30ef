// Scalar WebAssembly kernels for the passes TIES trimming and the L1 rescale need before the merge itself
// (added to the bf16 module of `bf16-kernels.ts`, so they read the same input buffers). Each works on one
// model's bf16 chunk against the base chunk, element after element: the delta is f32(θ_i) − f32(θ_b), rounded
// to float32 exactly as the JavaScript path stores it in a Float32Array, and its magnitude is taken on the bit
// pattern (|x| bits order like |x| for every float32, NaN above +Inf), as `TopKCut` does.
import { F64, FnBuilder, I32, op } from "./wasm-asm.js";

const { get, set } = op;

/** Opens the element loop over byte offsets i = 0, 2, … < nBytes; `close` ends it. */
const open = (i: number, nBytes: number) => [...op.i32(0), ...set(i), ...op.block, ...op.loop, ...get(i), ...get(nBytes), ...op.i32GeU, ...op.brIf(1)];
const close = (i: number) => [...get(i), ...op.i32(2), ...op.i32Add, ...set(i), ...op.br(0), ...op.end, ...op.end];
/** The float32 value of the bf16 element at byte offset `base + i`. */
const widen = (base: number, i: number) => [...get(base), ...get(i), ...op.i32Add, ...op.i32Load16u(), ...op.i32(16), ...op.i32Shl, ...op.f32ReinterpretI32];
/** f32(θ_i) − f32(θ_b) on the stack. */
const delta = (b: number, m: number, i: number) => [...widen(m, i), ...widen(b, i), ...op.f32Sub];
/** The |delta| bit pattern on the stack. */
const magBits = (b: number, m: number, i: number) => [...delta(b, m, i), ...op.i32ReinterpretF32, ...op.i32(0x7fffffff), ...op.i32And];
/** hist[idx] += 1 for the u32 counters at `hist`, with the byte offset of idx (4·idx) on the stack's top. */
const bump = (hist: number, a: number) => [...get(hist), ...op.i32Add, ...op.tee(a), ...get(a), ...op.i32Load(), ...op.i32(1), ...op.i32Add, ...op.i32Store()];

/** histHi(bOff, mOff, nBytes, hist): count the high 16 bits of |δ| (32768 u32 counters). */
export function histHiFn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32]);
  const [b, m, n, hist] = [0, 1, 2, 3];
  const i = f.local(I32), a = f.local(I32);
  f.emit(open(i, n), magBits(b, m, i), op.i32(14), op.i32ShrU, op.i32(-4), op.i32And, bump(hist, a), close(i));
  return f;
}

/** histLo(bOff, mOff, nBytes, hist, bucket): count the low 16 bits of the |δ| whose high 16 bits are `bucket`. */
export function histLoFn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32, I32]);
  const [b, m, n, hist, bucket] = [0, 1, 2, 3, 4];
  const i = f.local(I32), a = f.local(I32), d = f.local(I32);
  f.emit(open(i, n), magBits(b, m, i), op.tee(d), op.i32(16), op.i32ShrU, get(bucket), op.i32Eq, op.if);
  f.emit(get(d), op.i32(0xffff), op.i32And, op.i32(2), op.i32Shl, bump(hist, a), op.end, close(i));
  return f;
}

/**
 * cut(bOff, mOff, nBytes, maskOff, thr, tieOff): mask byte 0xFF where |δ| bits > thr, or = thr while the i32
 * at tieOff (ties still to keep) is non-zero, which it then decrements; else 0 — `TopKCut.mask` in index order.
 */
export function cutFn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32]);
  const [b, m, n, mask, thr, tie] = [0, 1, 2, 3, 4, 5];
  const i = f.local(I32), d = f.local(I32), keep = f.local(I32), r = f.local(I32);
  f.emit(open(i, n), magBits(b, m, i), op.tee(d), get(thr), op.i32GtU, set(keep));
  f.emit(get(d), get(thr), op.i32Eq, op.if, get(tie), op.i32Load(), op.tee(r), op.if);
  f.emit(op.i32(1), set(keep), get(tie), get(r), op.i32(1), op.i32Sub, op.i32Store(), op.end, op.end);
  f.emit(get(mask), get(i), op.i32(1), op.i32ShrU, op.i32Add, op.i32(0), get(keep), op.i32Sub, op.i32Store8(), close(i));
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
  f.emit(open(i, n), delta(b, m, i), op.f32Abs, op.f64PromoteF32, op.tee(x), get(before), op.f64Add, set(before));
  f.emit(get(mask), get(i), op.i32(1), op.i32ShrU, op.i32Add, op.i32Load8u(), op.if, get(after), get(x), op.f64Add, set(after), op.end, close(i));
  f.emit(get(acc), get(before), op.f64Store(0), get(acc), get(after), op.f64Store(8));
  return f;
}
