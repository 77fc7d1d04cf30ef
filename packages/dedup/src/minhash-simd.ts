// MinHash permutations on WebAssembly SIMD: the same `(a·x + b) mod 2^32`, signed minimum, as minhashInto,
// four permutations per i32x4 lane group and sixteen per pass over the shingles, so the results are
// bit-identical. The module is a few hundred bytes assembled here (no build step, no dependency); where the
// runtime lacks Wasm SIMD, or numPerm is not a multiple of 16, callers keep the scalar kernel.
import { SIG_EMPTY } from "./minhash-kernel.js";

/** LEB128 and section helpers of the tiny Wasm assembler, shared with minhash-oph.ts. */
export const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
export const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
export const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
export const str = (s: string) => vec([...s].map((c) => [c.charCodeAt(0)]));

// opcodes
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, I32_CONST = 0x41, I32_ADD = 0x6a, I32_SHL = 0x74, I32_GE_U = 0x4f;
const BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b, VOID = 0x40;
const simd = (op: number) => [0xfd, ...uleb(op)];
const V128_LOAD = (offset: number) => [...simd(0x00), 0, ...uleb(offset)];
const V128_LOAD32_SPLAT = [...simd(0x09), 0, 0];
const V128_STORE = (offset: number) => [...simd(0x0b), 0, ...uleb(offset)];
const I32X4_ADD = simd(0xae), I32X4_MUL = simd(0xb5), I32X4_MIN_S = simd(0xb6);
const V128_CONST_EMPTY = [...simd(0x0c), ...Array.from({ length: 4 }, () => [0xff, 0xff, 0xff, 0x7f]).flat()];

/** Lanes groups per pass: 4 × i32x4 = 16 permutations. */
const GROUPS = 4;
export const SIMD_PERM_MULTIPLE = 4 * GROUPS;

function moduleBytes(): Uint8Array {
  // params: aOff bOff sigOff hOff m kBytes; i32 locals: j p end; v128 locals: a0..3 b0..3 s0..3 x
  const [aOff, bOff, sigOff, hOff, m, kBytes, j, p, end] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const A = (t: number) => 9 + t, B = (t: number) => 13 + t, S = (t: number) => 17 + t, X = 21;
  const g = (i: number) => [LOCAL_GET, ...uleb(i)];
  const s = (i: number) => [LOCAL_SET, ...uleb(i)];
  const body: number[] = [
    ...[I32_CONST, 0], ...s(j),
    ...g(hOff), ...g(m), I32_CONST, 2, I32_SHL, I32_ADD, ...s(end),
    BLOCK, VOID, LOOP, VOID,
    ...g(j), ...g(kBytes), I32_GE_U, BR_IF, 1,
  ];
  for (let t = 0; t < GROUPS; t++) {
    body.push(...g(aOff), ...g(j), I32_ADD, ...V128_LOAD(16 * t), ...s(A(t)));
    body.push(...g(bOff), ...g(j), I32_ADD, ...V128_LOAD(16 * t), ...s(B(t)));
    body.push(...V128_CONST_EMPTY, ...s(S(t)));
  }
  body.push(...g(hOff), ...s(p), BLOCK, VOID, LOOP, VOID, ...g(p), ...g(end), I32_GE_U, BR_IF, 1);
  body.push(...g(p), ...V128_LOAD32_SPLAT, ...s(X));
  for (let t = 0; t < GROUPS; t++) body.push(...g(S(t)), ...g(A(t)), ...g(X), ...I32X4_MUL, ...g(B(t)), ...I32X4_ADD, ...I32X4_MIN_S, ...s(S(t)));
  body.push(...g(p), I32_CONST, 4, I32_ADD, ...s(p), BR, 0, END, END);
  for (let t = 0; t < GROUPS; t++) body.push(...g(sigOff), ...g(j), I32_ADD, ...g(S(t)), ...V128_STORE(16 * t));
  body.push(...g(j), I32_CONST, ...sleb(16 * GROUPS), I32_ADD, ...s(j), BR, 0, END, END, END);
  const locals = vec([[3, 0x7f], [13, 0x7b]]);
  const func = [...locals, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(Array.from({ length: 6 }, () => [0x7f])), 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...str("mem"), 0x02, 0], [...str("minhash"), 0x00, 0]])),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
}

// The package's type libraries carry no WebAssembly declarations: the little used here, typed by hand.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
export const Wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;
function simdModule(): object | null {
  if (compiled === undefined) {
    try {
      const bytes = moduleBytes();
      compiled = Wasm?.validate(bytes) ? new Wasm.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
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
  const mem = inst.exports.mem as WasmMemory;
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
