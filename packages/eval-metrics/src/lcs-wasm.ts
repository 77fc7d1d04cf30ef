/**
 * The bit-parallel LCS of `lcs-bit-parallel.ts` as a WebAssembly module over 64-bit words, assembled here at
 * run time (no build step, no toolchain). One call scores a whole batch of pairs, so the JS↔Wasm boundary is
 * crossed once per batch, not per pair.
 *
 * Per pair: strip the common prefix and suffix, put the shorter side on the bit axis, and give each distinct
 * pattern symbol a row of the match table through a direct-indexed u16 table over all code points
 * (0..0x10FFFF; no hashing), cleared again after the pair. Patterns up to KMAX words run in kernels unrolled
 * per word count with V in locals; longer ones loop over V in memory.
 *
 * Memory: [0, TABLE_BYTES) the symbol → row table, then what the driver lays out per batch (`lcs-wasm-driver.ts`).
 * `batch(n, desc, out, table, pm, pmCap, vbuf)`: desc holds n × (aAddr, aLen, bAddr, bLen) as i32 (addresses of
 * i32 symbol arrays, lengths in symbols); out[k] gets the LCS length, or -1 - rows when the match table needs
 * more than pmCap bytes ((rows + 1) × words × 8), or -1 - 65535 when the pattern has too many distinct symbols.
 */
import { wasmAsm } from "@sfmed/schema/io";

const { FnBuilder, I32, I64, moduleBytes, op } = wasmAsm;
type Fn = InstanceType<typeof FnBuilder>;

/** Word counts with their own unrolled kernel (1..KMAX × 64 symbols). */
export const KMAX = 12;
/** Rows are u16: a pattern may have at most this many distinct symbols. */
const MAX_ROWS = 65534;
const TABLE_BYTES = 0x110000 * 2;

// Function indices: 0 batch, 1 pair, 2 the general kernel, then the unrolled ones.
const FN_PAIR = 1, FN_GENERAL = 2, FN_K = 3;

/** `for (i = 0; i < end; i += step) body` with i32 locals; `end` is a local. */
function forUp(f: Fn, i: number, end: number, step: number, body: () => void) {
  f.emit(op.i32(0), op.set(i), op.block, op.get(i), op.get(end), op.i32GeU, op.brIf(0), op.loop);
  body();
  f.emit(op.get(i), op.i32(step), op.i32Add, op.tee(i), op.get(end), op.i32LtU, op.brIf(0), op.end, op.end);
}

/** Pushes the row of the symbol at address in local `at` (i32, table + 2 × symbol). */
const rowAddr = (at: number, table: number) => [...op.get(table), ...op.get(at), ...op.i32Load(), ...op.i32(1), ...op.i32Shl, ...op.i32Add];

/** Sum of zero bits of V (bits above m stay 1: their match bits are 0, so `v & ~pm` keeps them set). */
function zeros(f: Fn, vs: Array<() => void>) {
  vs.forEach((load, w) => {
    load();
    f.emit(op.i64(-1), op.i64Xor, op.i64Popcnt);
    if (w > 0) f.emit(op.i64Add);
  });
  f.emit(op.i32WrapI64);
}

/** One word step: V_w ← (V_w + U + carry) | (V_w ^ U), U = V_w & PM_w; carry out into `carry` when `carryOut`. */
function wordStep(f: Fn, vw: number, pmLoad: () => void, l: { u: number; s: number; s2: number; carry: number }, carryIn: boolean, carryOut: boolean) {
  pmLoad();
  f.emit(op.get(vw), op.i64And, op.set(l.u), op.get(vw), op.get(l.u), op.i64Add, op.set(l.s));
  if (!carryIn) {
    if (carryOut) f.emit(op.get(l.s), op.get(vw), op.i64LtU, op.i64ExtendI32U, op.set(l.carry));
    f.emit(op.get(l.s), op.get(vw), op.get(l.u), op.i64Xor, op.i64Or, op.set(vw));
  } else if (!carryOut) {
    f.emit(op.get(l.s), op.get(l.carry), op.i64Add, op.get(vw), op.get(l.u), op.i64Xor, op.i64Or, op.set(vw));
  } else {
    // s2 = s + carry; carry' = (s < v) | (s2 < s)
    f.emit(op.get(l.s), op.get(vw), op.i64LtU, op.get(l.s), op.get(l.carry), op.i64Add, op.tee(l.s2), op.get(l.s), op.i64LtU);
    f.emit(op.i32Or, op.i64ExtendI32U, op.set(l.carry), op.get(l.s2), op.get(vw), op.get(l.u), op.i64Xor, op.i64Or, op.set(vw));
  }
}

/** lcsK(t, n, table, pm, m) → zero bits after scanning the text; V in K locals. */
function kernelK(k: number): Fn {
  const f = new FnBuilder([I32, I32, I32, I32, I32], [I32]);
  const [t, n, table, pm] = [0, 1, 2, 3];
  const end = f.local(I32), base = f.local(I32);
  const vs = Array.from({ length: k }, () => f.local(I64));
  const l = { u: f.local(I64), s: f.local(I64), s2: f.local(I64), carry: f.local(I64) };
  for (const vw of vs) f.emit(op.i64(-1), op.set(vw));
  f.emit(op.get(t), op.get(n), op.i32(2), op.i32Shl, op.i32Add, op.set(end));
  f.emit(op.block, op.loop, op.get(t), op.get(end), op.i32GeU, op.brIf(1));
  f.emit(rowAddr(t, table), op.i32Load16u(), op.tee(base), op.i32Eqz, op.get(t), op.i32(4), op.i32Add, op.set(t));
  // Symbols absent from the pattern leave V unchanged: skip them (most characters of one answer, in Chinese).
  f.emit(op.brIf(0));
  f.emit(op.get(base), op.i32(8 * k), op.i32Mul, op.get(pm), op.i32Add, op.set(base));
  vs.forEach((vw, w) => wordStep(f, vw, () => f.emit(op.get(base), op.i64Load(8 * w)), l, w > 0, w < k - 1));
  f.emit(op.br(0), op.end, op.end);
  zeros(f, vs.map((vw) => () => f.emit(op.get(vw))));
  return f;
}

/** lcsN(t, n, table, pm, words, vbuf) → zero bits; V in memory at vbuf. */
function kernelGeneral(): Fn {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32], [I32]);
  const [t, n, table, pm, words, vbuf] = [0, 1, 2, 3, 4, 5];
  const end = f.local(I32), base = f.local(I32), w = f.local(I32), rowBytes = f.local(I32), vw = f.local(I64);
  const l = { u: f.local(I64), s: f.local(I64), s2: f.local(I64), carry: f.local(I64) };
  const acc = f.local(I64);
  f.emit(op.get(words), op.i32(3), op.i32Shl, op.set(rowBytes));
  forUp(f, w, rowBytes, 8, () => f.emit(op.get(vbuf), op.get(w), op.i32Add, op.i64(-1), op.i64Store()));
  f.emit(op.get(t), op.get(n), op.i32(2), op.i32Shl, op.i32Add, op.set(end));
  f.emit(op.block, op.loop, op.get(t), op.get(end), op.i32GeU, op.brIf(1));
  f.emit(rowAddr(t, table), op.i32Load16u(), op.tee(base), op.i32Eqz, op.get(t), op.i32(4), op.i32Add, op.set(t), op.brIf(0));
  f.emit(op.get(base), op.get(rowBytes), op.i32Mul, op.get(pm), op.i32Add, op.set(base), op.i64(0), op.set(l.carry));
  forUp(f, w, rowBytes, 8, () => {
    f.emit(op.get(vbuf), op.get(w), op.i32Add, op.i64Load(), op.set(vw));
    wordStep(f, vw, () => f.emit(op.get(base), op.get(w), op.i32Add, op.i64Load()), l, true, true);
    f.emit(op.get(vbuf), op.get(w), op.i32Add, op.get(vw), op.i64Store());
  });
  f.emit(op.br(0), op.end, op.end);
  f.emit(op.i64(0), op.set(acc));
  forUp(f, w, rowBytes, 8, () => f.emit(op.get(vbuf), op.get(w), op.i32Add, op.i64Load(), op.i64(-1), op.i64Xor, op.i64Popcnt, op.get(acc), op.i64Add, op.set(acc)));
  f.emit(op.get(acc), op.i32WrapI64);
  return f;
}

/** Strips the common prefix and suffix; leaves s, aEnd, bEnd set. */
function stripAffix(f: Fn, a: number, aLen: number, b: number, bLen: number, s: number, aEnd: number, bEnd: number) {
  const at = (base: number, i: number, back: number) => [...op.get(base), ...op.get(i), ...op.i32(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load(back)];
  f.emit(op.i32(0), op.set(s), op.block, op.loop);
  f.emit(op.get(s), op.get(aLen), op.i32GeU, op.brIf(1), op.get(s), op.get(bLen), op.i32GeU, op.brIf(1));
  f.emit(at(a, s, 0), at(b, s, 0), op.i32Ne, op.brIf(1), op.get(s), op.i32(1), op.i32Add, op.set(s), op.br(0), op.end, op.end);
  f.emit(op.get(aLen), op.set(aEnd), op.get(bLen), op.set(bEnd), op.block, op.loop);
  f.emit(op.get(aEnd), op.get(s), op.i32LeU, op.brIf(1), op.get(bEnd), op.get(s), op.i32LeU, op.brIf(1));
  // a[aEnd - 1] vs b[bEnd - 1]: addresses a + 4·aEnd - 4 (unsigned offsets cannot be negative, so subtract first)
  f.emit(op.get(a), op.get(aEnd), op.i32(2), op.i32Shl, op.i32Add, op.i32(4), op.i32Sub, op.i32Load());
  f.emit(op.get(b), op.get(bEnd), op.i32(2), op.i32Shl, op.i32Add, op.i32(4), op.i32Sub, op.i32Load());
  f.emit(op.i32Ne, op.brIf(1));
  f.emit(op.get(aEnd), op.i32(1), op.i32Sub, op.set(aEnd), op.get(bEnd), op.i32(1), op.i32Sub, op.set(bEnd), op.br(0), op.end, op.end);
}

/** pair(a, aLen, b, bLen, table, pm, pmCap, vbuf) → LCS length (or -1 - rows, see the header). */
function pairFn(): Fn {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32, I32, I32], [I32]);
  const [a, aLen, b, bLen, table, pm, pmCap, vbuf] = [0, 1, 2, 3, 4, 5, 6, 7];
  const loc = () => f.local(I32);
  const s = loc(), aEnd = loc(), bEnd = loc(), p = loc(), t = loc(), m = loc(), n = loc();
  const words = loc(), i = loc(), at = loc(), rows = loc(), res = loc(), bytes = loc();
  stripAffix(f, a, aLen, b, bLen, s, aEnd, bEnd);
  // Shorter side on the bit axis: p, m the pattern; t, n the text (both past the common prefix).
  const side = (x: number, xEnd: number, base: number, len: number) => [...op.get(x), ...op.get(s), ...op.i32(2), ...op.i32Shl, ...op.i32Add, ...op.set(base), ...op.get(xEnd), ...op.get(s), ...op.i32Sub, ...op.set(len)];
  f.emit(op.get(aEnd), op.get(bEnd), op.i32LeU, op.if, side(a, aEnd, p, m), side(b, bEnd, t, n));
  f.emit(op.else, side(b, bEnd, p, m), side(a, aEnd, t, n), op.end);
  f.emit(op.get(s), op.get(aLen), op.get(aEnd), op.i32Sub, op.i32Add, op.set(res)); // affix length
  f.emit(op.get(m), op.i32Eqz, op.if, op.get(res), op.return, op.end);
  f.emit(op.get(m), op.i32(63), op.i32Add, op.i32(6), op.i32ShrU, op.set(words));
  // Pass 1: a row per distinct symbol (row 0 means absent).
  f.emit(op.i32(0), op.set(rows));
  forUp(f, i, m, 1, () => {
    f.emit(op.get(p), op.get(i), op.i32(2), op.i32Shl, op.i32Add, op.set(at), rowAddr(at, table), op.tee(at), op.i32Load16u(), op.i32Eqz, op.if);
    f.emit(op.get(rows), op.i32(MAX_ROWS), op.i32GeU, op.if, op.get(rows), op.i32(1), op.i32Add, op.set(rows), op.else);
    f.emit(op.get(at), op.get(rows), op.i32(1), op.i32Add, op.tee(rows), op.i32Store16(), op.end, op.end);
  });
  f.emit(op.get(rows), op.i32(1), op.i32Add, op.get(words), op.i32Mul, op.i32(3), op.i32Shl, op.set(bytes));
  f.emit(op.get(rows), op.i32(MAX_ROWS), op.i32GtU, op.get(bytes), op.get(pmCap), op.i32GtU, op.i32Or, op.if);
  f.emit(op.i32(-1), op.get(rows), op.i32Sub, op.set(res), op.else);
  // Pass 2: clear rows 0..rows, set the match bits, run the kernel.
  forUp(f, i, bytes, 8, () => f.emit(op.get(pm), op.get(i), op.i32Add, op.i64(0), op.i64Store()));
  forUp(f, i, m, 1, () => {
    f.emit(op.get(p), op.get(i), op.i32(2), op.i32Shl, op.i32Add, op.set(at), rowAddr(at, table), op.i32Load16u());
    f.emit(op.get(words), op.i32Mul, op.get(i), op.i32(6), op.i32ShrU, op.i32Add, op.i32(3), op.i32Shl, op.get(pm), op.i32Add, op.tee(at));
    f.emit(op.get(at), op.i64Load(), op.i64(1), op.get(i), op.i64ExtendI32U, op.i64Shl, op.i64Or, op.i64Store());
  });
  f.emit(op.block);
  for (let k = 1; k <= KMAX; k++) {
    f.emit(op.get(words), op.i32(k), op.i32Eq, op.if, op.get(t), op.get(n), op.get(table), op.get(pm), op.get(m), op.call(FN_K + k - 1));
    f.emit(op.get(res), op.i32Add, op.set(res), op.br(1), op.end);
  }
  f.emit(op.get(t), op.get(n), op.get(table), op.get(pm), op.get(words), op.get(vbuf), op.call(FN_GENERAL), op.get(res), op.i32Add, op.set(res), op.end);
  f.emit(op.end);
  // Leave the table all zeros for the next pair.
  forUp(f, i, m, 1, () => f.emit(op.get(p), op.get(i), op.i32(2), op.i32Shl, op.i32Add, op.set(at), rowAddr(at, table), op.i32(0), op.i32Store16()));
  f.emit(op.get(res));
  return f;
}

/** batch(n, desc, out, table, pm, pmCap, vbuf): out[k] = pair(desc[k]…). */
function batchFn(): Fn {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32, I32]);
  const [n, desc, out, table, pm, pmCap, vbuf] = [0, 1, 2, 3, 4, 5, 6];
  const k = f.local(I32), d = f.local(I32);
  forUp(f, k, n, 1, () => {
    f.emit(op.get(desc), op.get(k), op.i32(4), op.i32Shl, op.i32Add, op.set(d), op.get(out), op.get(k), op.i32(2), op.i32Shl, op.i32Add);
    f.emit(op.get(d), op.i32Load(0), op.get(d), op.i32Load(4), op.get(d), op.i32Load(8), op.get(d), op.i32Load(12));
    f.emit(op.get(table), op.get(pm), op.get(pmCap), op.get(vbuf), op.call(FN_PAIR), op.i32Store());
  });
  return f;
}

/** The module's bytes: batch and pair exported, the kernels internal. */
function lcsModuleBytes(): Uint8Array {
  const fns: Array<{ name?: string; fn: Fn }> = [{ name: "batch", fn: batchFn() }, { name: "pair", fn: pairFn() }, { fn: kernelGeneral() }];
  for (let k = 1; k <= KMAX; k++) fns.push({ fn: kernelK(k) });
  return moduleBytes(Math.ceil(TABLE_BYTES / 65536) + 16, fns);
}

let compiled: object | null | undefined;
/** The compiled module (shareable with worker threads), or null where the runtime has no WebAssembly. */
export function lcsModule(): object | null {
  if (compiled === undefined) compiled = wasmAsm.compile(lcsModuleBytes()) ?? null;
  return compiled;
}
