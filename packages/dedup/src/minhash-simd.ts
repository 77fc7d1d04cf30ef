// MinHash permutations on WebAssembly SIMD: the same `(a·x + b) mod 2^32`, signed minimum, as minhashInto,
// four permutations per i32x4 lane group and sixteen per pass over the shingles, so the results are
// bit-identical. The module is a few hundred bytes assembled at run time with the shared `wasmAsm` (no build
// step, no dependency); where the runtime lacks Wasm SIMD, or numPerm is not a multiple of 16, callers keep the
// scalar kernel.
import { wasmAsm } from "@sfmed/schema/io";
import { SIG_EMPTY } from "./minhash-kernel.js";

const { FnBuilder, I32, V128, Wasm, compile, moduleBytes, op, v } = wasmAsm;

/** Lanes groups per pass: 4 × i32x4 = 16 permutations. */
const GROUPS = 4;
export const SIMD_PERM_MULTIPLE = 4 * GROUPS;

/** minhash(aOff, bOff, sigOff, hOff, m, kBytes): for each pass of 16 permutations, the minima over all hashes. */
function simdModuleBytes(): Uint8Array {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32]);
  const [aOff, bOff, sigOff, hOff, m, kBytes] = [0, 1, 2, 3, 4, 5];
  const [j, p, end] = [f.local(I32), f.local(I32), f.local(I32)];
  const lanes = () => Array.from({ length: GROUPS }, () => f.local(V128));
  const [A, B, S] = [lanes(), lanes(), lanes()];
  const x = f.local(V128);
  f.emit(op.i32(0), op.set(j), op.get(hOff), op.get(m), op.i32(2), op.i32Shl, op.i32Add, op.set(end));
  f.emit(op.block, op.loop, op.get(j), op.get(kBytes), op.i32GeU, op.brIf(1));
  for (let t = 0; t < GROUPS; t++) {
    f.emit(op.get(aOff), op.get(j), op.i32Add, v.load(16 * t), op.set(A[t]!));
    f.emit(op.get(bOff), op.get(j), op.i32Add, v.load(16 * t), op.set(B[t]!));
    f.emit(v.i32x4Const(SIG_EMPTY), op.set(S[t]!));
  }
  f.emit(op.get(hOff), op.set(p), op.block, op.loop, op.get(p), op.get(end), op.i32GeU, op.brIf(1));
  f.emit(op.get(p), v.load32Splat(), op.set(x));
  for (let t = 0; t < GROUPS; t++) {
    f.emit(op.get(S[t]!), op.get(A[t]!), op.get(x), v.i32x4Mul, op.get(B[t]!), v.i32x4Add, v.i32x4MinS, op.set(S[t]!));
  }
  f.emit(op.get(p), op.i32(4), op.i32Add, op.set(p), op.br(0), op.end, op.end);
  for (let t = 0; t < GROUPS; t++) f.emit(op.get(sigOff), op.get(j), op.i32Add, op.get(S[t]!), v.store(16 * t));
  f.emit(op.get(j), op.i32(16 * GROUPS), op.i32Add, op.set(j), op.br(0), op.end, op.end);
  return moduleBytes(1, [{ name: "minhash", fn: f }]);
}

let compiled: object | null | undefined;
function simdModule(): object | null {
  if (compiled === undefined) compiled = compile(simdModuleBytes()) ?? null;
  return compiled;
}

/**
 * MinHash over Wasm SIMD for one permutation set `a`, `b` (copied in once). One instance per thread: it owns
 * its memory. `null` from {@link createSimdMinhash} means: use the scalar `minhashInto`.
 */
export interface SimdMinhash {
  /** Same contract as `minhashInto(h, m, a, b, k, sig)` for the `a`, `b`, `k` given at creation. */
  minhash(h: Int32Array, m: number, sig: Int32Array): void;
}

export function createSimdMinhash(a: Int32Array, b: Int32Array): SimdMinhash | null {
  const k = a.length;
  if (k === 0 || k % SIMD_PERM_MULTIPLE !== 0 || b.length !== k) return null;
  const mod = simdModule();
  if (!mod) return null;
  const inst = new Wasm!.Instance(mod);
  const mem = inst.exports.mem as wasmAsm.WasmMemory;
  const fn = inst.exports.minhash as (aOff: number, bOff: number, sigOff: number, hOff: number, m: number, kBytes: number) => void;
  const kb = 4 * k;
  const hOff = 3 * kb;
  let heap = new Int32Array(mem.buffer);
  const ensure = (m: number) => {
    const need = hOff + 4 * m;
    if (need > mem.buffer.byteLength) {
      mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
      heap = new Int32Array(mem.buffer);
    }
  };
  ensure(0);
  heap.set(a, 0);
  heap.set(b, k);
  return {
    minhash(h, m, sig) {
      if (m === 0) {
        sig.fill(SIG_EMPTY, 0, k);
        return;
      }
      ensure(m);
      heap.set(m === h.length ? h : h.subarray(0, m), hOff >> 2);
      fn(0, kb, 2 * kb, hOff, m, kb);
      sig.set(heap.subarray(2 * k, 3 * k));
    },
  };
}
