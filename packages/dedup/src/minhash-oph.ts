// One-permutation hashing with optimal densification (Li, Owen & Zhang 2012; Shrivastava 2017): each shingle is
// hashed once into one of `k` bins, each bin keeps its minimum, and an empty bin borrows the value of the first
// non-empty bin on a fixed pseudo-random probe sequence of its own. O(m + k) per document instead of MinHash's
// O(m·k), with the same estimator: two signatures agree in a slot with probability exactly J (each slot is a
// min-wise sample of the union), so `numPerm` slots still estimate Jaccard as the share of equal slots.
import { wasmAsm } from "@sfmed/schema/io";
import { fmix32, HASH_SCHEME, SIG_EMPTY } from "./minhash-kernel.js";

const { FnBuilder, I32, V128, Wasm, compile, moduleBytes, op, v } = wasmAsm;

/** Version tag of this sketch, the package default (over the same code-point murmur3 shingle hashes). */
export const OPH_SCHEME = HASH_SCHEME;

/** 2^-32: a uint32 times k times this, floored, is a uniform bin in [0, k). */
const TWO_POW_M32 = 2.3283064365386963e-10;

/** The seed-derived constants of one sketch; plain numbers, cheap to build per thread. */
export interface OphPlan {
  readonly k: number;
  /** Mixed into every shingle hash before binning (the seed's "permutation"). */
  readonly salt: number;
  /** Mixed into the densification probe sequence. */
  readonly probeSalt: number;
  /** Snapshot of the filled bins while densifying (scratch, `k` values). */
  readonly scratch: Int32Array;
  /** The first {@link PROBES} bins of every bin's probe sequence (`k × PROBES`), the same for every document. */
  readonly probes: Int32Array;
}

/** Probe-sequence steps kept in a table; later steps are computed (rare unless the set is tiny). */
const PROBES = 32;

export function ophPlan(k: number, seed: number): OphPlan {
  const probeSalt = fmix32((seed + 0x27d4eb2f) | 0);
  const probes = new Int32Array(k * PROBES);
  const scale = k * TWO_POW_M32;
  for (let j = 0; j < k; j++) for (let t = 1; t <= PROBES; t++) probes[j * PROBES + t - 1] = probeBin(j, t, probeSalt, scale);
  return { k, salt: fmix32(seed ^ 0x5bd1e995), probeSalt, scratch: new Int32Array(k), probes };
}

/** Step `t` (from 1) of bin `j`'s probe sequence. */
function probeBin(j: number, t: number, probeSalt: number, scale: number): number {
  const base = Math.imul(j + 1, 0x9e3779b9) ^ probeSalt;
  return ((fmix32((base + Math.imul(t, 0x85ebca6b)) | 0) >>> 0) * scale) | 0;
}

type Fn = InstanceType<typeof FnBuilder>;
type Code = ReadonlyArray<readonly number[]>;

// Inside the kernel a bin holds the smallest re-mixed hash y itself (unsigned order) and an empty bin all ones,
// so the reset is a splat store and the minimum an unsigned compare; the slot value y ^ 0x80000000 (SIG_EMPTY
// for an empty bin) is written once, on the way out.
const EMPTY_Y = -1;
const SIGN = -0x80000000;

/** The params and locals of the `oph` function (indices). */
interface OphLocals {
  readonly hOff: number; readonly m: number; readonly sigOff: number; readonly salt: number; readonly k: number;
  readonly probesOff: number; readonly outOff: number; readonly simdCount: number; readonly shift: number;
  readonly probeSalt: number;
  readonly p: number; readonly end: number; readonly y: number; readonly addr: number; readonly v: number;
  readonly s: number; readonly j: number; readonly q: number; readonly filled: number;
  /** v128: four re-mixed hashes, their bins' byte addresses, the salt, sigOff, all ones, the sign bit. */
  readonly Y: number; readonly A: number; readonly SALT: number; readonly SIGOFF: number; readonly ONES: number;
  readonly SIGN4: number;
}

function ophLocals(f: Fn): OphLocals {
  const [hOff, m, sigOff, salt, k, probesOff, outOff, simdCount, shift, probeSalt] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [p, end, y, addr, v, s, j, q, filled] = Array.from({ length: 9 }, () => f.local(I32)) as [number, number, number, number, number, number, number, number, number];
  const [Y, A, SALT, SIGOFF, ONES, SIGN4] = Array.from({ length: 6 }, () => f.local(V128)) as [number, number, number, number, number, number];
  return { hOff, m, sigOff, salt, k, probesOff, outOff, simdCount, shift, probeSalt, p, end, y, addr, v, s, j, q, filled, Y, A, SALT, SIGOFF, ONES, SIGN4 };
}

/** Address of the i32 at index `idx` (code pushing it) of the array at local `base`. */
const at = (base: number, ...idx: Code): Code => [op.get(base), ...idx, op.i32(2), op.i32Shl, op.i32Add];

/** `for (counter = from; counter < limit; counter += step) inner` (unsigned compare). */
const loopFrom = (counter: number, from: Code, limit: Code, step: number, inner: Code): Code => [
  ...from, op.set(counter), op.block, op.loop, op.get(counter), ...limit, op.i32GeU, op.brIf(1),
  ...inner, op.get(counter), op.i32(step), op.i32Add, op.set(counter), op.br(0), op.end, op.end,
];

/** fmix32 of local `x`, in place (murmur3's finaliser, as {@link fmix32}). */
const fmixLocal = (x: number): Code => [
  op.get(x), op.get(x), op.i32(16), op.i32ShrU, op.i32Xor, op.i32(0x85ebca6b), op.i32Mul, op.set(x),
  op.get(x), op.get(x), op.i32(13), op.i32ShrU, op.i32Xor, op.i32(0xc2b2ae35), op.i32Mul, op.set(x),
  op.get(x), op.get(x), op.i32(16), op.i32ShrU, op.i32Xor, op.set(x),
];

/** The bin of `y` on the stack among `k`: (y · k) >> 32 in 64 bits, the same as floor(y · k · 2^-32). */
const binOf = (k: number): Code => [op.i64ExtendI32U, op.get(k), op.i64ExtendI32U, op.i64Mul, op.i64(32), op.i64ShrU, op.i32WrapI64];

/** mem[addr] = min(mem[addr], v), unsigned, with a `select` (never a branch). */
const scatter = (L: OphLocals): Code => [
  op.get(L.addr), op.i32Load(), op.set(L.s),
  op.get(L.addr), op.get(L.v), op.get(L.s), op.get(L.v), op.get(L.s), op.i32LtU, op.select, op.i32Store(),
];

/** Every bin empty: four at a time, then the rest. */
function emitReset(f: Fn, L: OphLocals) {
  f.emit(op.get(L.sigOff), op.get(L.k), op.i32(-4), op.i32And, op.i32(2), op.i32Shl, op.i32Add, op.set(L.end));
  f.emit(...loopFrom(L.p, [op.get(L.sigOff)], [op.get(L.end)], 16, [op.get(L.p), op.get(L.ONES), v.store()]));
  f.emit(...loopFrom(L.p, [op.get(L.end)], [...at(L.sigOff, op.get(L.k))], 4, [op.get(L.p), op.i32(EMPTY_Y), op.i32Store()]));
}

/** Four hashes at a time where k is a power of two (bin = y >>> shift, the same as the scalar loop). */
function emitSimdBinning(f: Fn, L: OphLocals) {
  const xorShift = (n: number) => f.emit(op.get(L.Y), op.get(L.Y), op.i32(n), v.i32x4ShrU, v.xor, op.set(L.Y));
  f.emit(op.get(L.hOff), op.get(L.simdCount), op.i32(2), op.i32Shl, op.i32Add, op.set(L.end));
  f.emit(op.get(L.hOff), op.set(L.p), op.block, op.loop, op.get(L.p), op.get(L.end), op.i32GeU, op.brIf(1));
  f.emit(op.get(L.p), v.load(), op.get(L.SALT), v.xor, op.set(L.Y));
  xorShift(16);
  f.emit(op.get(L.Y), v.i32x4Const(0x85ebca6b), v.i32x4Mul, op.set(L.Y));
  xorShift(13);
  f.emit(op.get(L.Y), v.i32x4Const(0xc2b2ae35), v.i32x4Mul, op.set(L.Y));
  xorShift(16);
  f.emit(op.get(L.Y), op.get(L.shift), v.i32x4ShrU, op.i32(2), v.i32x4Shl, op.get(L.SIGOFF), v.i32x4Add, op.set(L.A));
  for (const lane of [0, 1, 2, 3]) {
    f.emit(op.get(L.A), v.i32x4ExtractLane(lane), op.set(L.addr), op.get(L.Y), v.i32x4ExtractLane(lane), op.set(L.v), ...scatter(L));
  }
  f.emit(op.get(L.p), op.i32(16), op.i32Add, op.set(L.p), op.br(0), op.end, op.end);
}

/** The rest one hash at a time, from where the vector loop stopped. */
function emitScalarBinning(f: Fn, L: OphLocals) {
  f.emit(...loopFrom(L.p, [op.get(L.p)], [op.get(L.hOff), op.get(L.m), op.i32(2), op.i32Shl, op.i32Add], 4, [
    op.get(L.p), op.i32Load(), op.get(L.salt), op.i32Xor, op.set(L.y), ...fmixLocal(L.y),
    ...at(L.sigOff, op.get(L.y), ...binOf(L.k)), op.set(L.addr), op.get(L.y), op.set(L.v), ...scatter(L),
  ]));
}

/** out[q] = the slot of bin q: its own minimum, or the one {@link emitFillFunction} finds for an empty bin. */
function slotOut(L: OphLocals): Code {
  const countFilled = loopFrom(L.y, [op.i32(0)], [op.get(L.k)], 1, [
    op.get(L.filled), ...at(L.sigOff, op.get(L.y)), op.i32Load(), op.i32(EMPTY_Y), op.i32Ne, op.i32Add, op.set(L.filled),
  ]);
  return [
    ...at(L.sigOff, op.get(L.q)), op.i32Load(), op.set(L.v),
    op.get(L.v), op.i32(EMPTY_Y), op.i32Eq, op.if,
    // counted once, on the first empty bin: with none filled (every hash re-mixed to all ones) bins stay empty
    op.get(L.filled), op.i32(0), op.i32LtS, op.if, op.i32(0), op.set(L.filled), ...countFilled, op.end,
    op.get(L.q), op.get(L.sigOff), op.get(L.k), op.get(L.probesOff), op.get(L.probeSalt), op.get(L.filled), op.call(1), op.set(L.v),
    op.end,
    ...at(L.outOff, op.get(L.q)), op.get(L.v), op.i32(SIGN), op.i32Xor, op.i32Store(),
  ];
}

/** Slots out four bins at a time: straight through when none is empty, else bin by bin through the probes. */
function emitDensify(f: Fn, L: OphLocals) {
  f.emit(op.i32(-1), op.set(L.filled), op.get(L.k), op.i32(-4), op.i32And, op.set(L.end));
  f.emit(...loopFrom(L.j, [op.i32(0)], [op.get(L.end)], 4, [
    ...at(L.sigOff, op.get(L.j)), v.load(), op.set(L.Y),
    op.get(L.Y), op.get(L.ONES), v.i32x4Eq, v.anyTrue, op.if,
    ...loopFrom(L.q, [op.get(L.j)], [op.get(L.j), op.i32(4), op.i32Add], 1, slotOut(L)),
    op.else,
    ...at(L.outOff, op.get(L.j)), op.get(L.Y), op.get(L.SIGN4), v.xor, v.store(),
    op.end,
  ]));
  f.emit(...loopFrom(L.q, [op.get(L.end)], [op.get(L.k)], 1, slotOut(L)));
}

/**
 * fill(j, sigOff, k, probesOff, probeSalt, filled) → y: bin j's own value, else the first filled bin on its probe
 * sequence (the tabled steps, then the computed ones up to 64·k, then a scan), as {@link densify} and
 * {@link probeOn} do; all ones when `filled` is 0.
 */
function emitFillFunction(): Fn {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32], [I32]);
  const [j, sigOff, k, probesOff, probeSalt, filled] = [0, 1, 2, 3, 4, 5];
  const [v0, q, t, c, base] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  const returnIfFilled = [op.get(v0), op.i32(EMPTY_Y), op.i32Ne, op.if, op.get(v0), op.return, op.end];
  const loadBin = (bin: Code) => [...at(sigOff, ...bin), op.i32Load(), op.set(v0)];
  f.emit(...loadBin([op.get(j)]), ...returnIfFilled);
  f.emit(op.get(filled), op.i32Eqz, op.if, op.i32(EMPTY_Y), op.return, op.end);
  f.emit(...at(probesOff, op.get(j), op.i32(PROBES), op.i32Mul), op.set(q));
  f.emit(...loopFrom(t, [op.i32(0)], [op.i32(PROBES)], 1, [
    ...loadBin([op.get(q), op.i32Load()]), ...returnIfFilled, op.get(q), op.i32(4), op.i32Add, op.set(q),
  ]));
  f.emit(op.get(j), op.i32(1), op.i32Add, op.i32(0x9e3779b9), op.i32Mul, op.get(probeSalt), op.i32Xor, op.set(base));
  f.emit(...loopFrom(t, [op.i32(PROBES + 1)], [op.get(k), op.i32(64), op.i32Mul, op.i32(1), op.i32Add], 1, [
    op.get(base), op.get(t), op.i32(0x85ebca6b), op.i32Mul, op.i32Add, op.set(c), ...fmixLocal(c),
    ...loadBin([op.get(c), ...binOf(k)]), ...returnIfFilled,
  ]));
  // a pathological sequence: the next filled bin in order (one exists: filled > 0)
  f.emit(op.get(j), op.set(c), op.loop);
  f.emit(op.get(c), op.i32(1), op.i32Add, op.set(c), op.get(c), op.get(k), op.i32Eq, op.if, op.i32(0), op.set(c), op.end);
  f.emit(...loadBin([op.get(c)]), ...returnIfFilled, op.br(0), op.end, op.i32(EMPTY_Y));
  return f;
}

/**
 * {@link ophInto} as a few hundred bytes of WebAssembly (no build step): the reset and the densification four bins
 * at a time, binning with a `select` for the minimum (never a branch: whether a shingle lowers its bin is a coin
 * flip), the mixing four hashes at a time on SIMD lanes when k is a power of two, and every probe step of an
 * empty bin. Params: hOff m sigOff salt k probesOff outOff simdCount (hashes for the vector loop, a multiple of 4)
 * shift (32 − log2 k) probeSalt. Memory: probe table, sig (before densification), out (slots), hashes.
 */
function ophModuleBytes(): Uint8Array {
  const f = new FnBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const L = ophLocals(f);
  f.emit(op.i32(EMPTY_Y), v.i32x4Splat, op.set(L.ONES), op.i32(SIGN), v.i32x4Splat, op.set(L.SIGN4));
  f.emit(op.get(L.salt), v.i32x4Splat, op.set(L.SALT), op.get(L.sigOff), v.i32x4Splat, op.set(L.SIGOFF));
  emitReset(f, L);
  emitSimdBinning(f, L);
  emitScalarBinning(f, L);
  emitDensify(f, L);
  return moduleBytes(1, [{ name: "oph", fn: f }, { fn: emitFillFunction() }]);
}

let ophCompiled: object | null | undefined;

/**
 * {@link ophInto} on WebAssembly for one plan: one instance per thread (it owns its memory). `null` where the
 * runtime has no WebAssembly; callers then keep the JavaScript loop, which gives the same bits.
 */
export function createWasmOph(plan: OphPlan): ((h: Int32Array, m: number, sig: Int32Array) => void) | null {
  if (ophCompiled === undefined) {
    ophCompiled = compile(ophModuleBytes()) ?? null;
  }
  if (!ophCompiled) return null;
  const inst = new Wasm!.Instance(ophCompiled);
  const mem = inst.exports.mem as wasmAsm.WasmMemory;
  const fn = inst.exports.oph as (hOff: number, m: number, sigOff: number, salt: number, k: number, probesOff: number, outOff: number, simdCount: number, shift: number, probeSalt: number) => void;
  const { k, salt, probeSalt } = plan;
  // layout in 4-byte words: probe table, sig, out, hashes
  const sigAt = k * PROBES;
  const outAt = sigAt + k;
  const hAt = outAt + k;
  let heap = new Int32Array(mem.buffer);
  let slots = heap.subarray(outAt, hAt);
  // for k = 2^b (b ≥ 1) the top b bits are the bin, four lanes at a time; other k take the 64-bit multiply
  const pow2 = k >= 2 && (k & (k - 1)) === 0;
  const shift = pow2 ? 32 - Math.log2(k) : 0;
  const grow = (m: number) => {
    const need = 4 * (hAt + m);
    if (need > mem.buffer.byteLength) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
    heap = new Int32Array(mem.buffer);
    slots = heap.subarray(outAt, hAt);
  };
  grow(0);
  heap.set(plan.probes, 0);
  return (h, m, sig) => {
    if (m === 0) {
      sig.fill(SIG_EMPTY, 0, k);
      return;
    }
    if (4 * (hAt + m) > heap.byteLength) grow(m);
    heap.set(m === h.length ? h : h.subarray(0, m), hAt);
    fn(4 * hAt, m, 4 * sigAt, salt, k, 0, 4 * outAt, pow2 ? m & ~3 : 0, shift, probeSalt);
    sig.set(slots);
  };
}

/**
 * Signature of the first `m` hashes of `h` (duplicates allowed: a minimum does not care) into `sig[0..k)`.
 * A slot holds `y ^ 0x80000000` for the smallest re-mixed hash `y` (unsigned) in its bin, so signed order is
 * unsigned order and bins own disjoint value ranges: equal slots mean the same shingle was chosen. An empty set
 * gives all SIG_EMPTY.
 */
export function ophInto(h: Int32Array, m: number, plan: OphPlan, sig: Int32Array): void {
  const { k, salt } = plan;
  for (let j = 0; j < k; j++) sig[j] = SIG_EMPTY;
  if (m === 0) return;
  const scale = k * TWO_POW_M32;
  for (let i = 0; i < m; i++) {
    let y = h[i]! ^ salt;
    y ^= y >>> 16;
    y = Math.imul(y, 0x85ebca6b);
    y ^= y >>> 13;
    y = Math.imul(y, 0xc2b2ae35);
    y ^= y >>> 16;
    const bin = ((y >>> 0) * scale) | 0;
    const v = y ^ -0x80000000;
    const s = sig[bin]!;
    // branch-free minimum: whether a shingle lowers its bin is a coin flip, and mispredicted branches cost
    // about twice the rest of the loop (measured)
    const lt = -(v < s ? 1 : 0);
    sig[bin] = (v & lt) | (s & ~lt);
  }
  densify(plan, sig, scale);
}

/**
 * Optimal densification: empty bin j probes bins c(j, 1), c(j, 2), … (the same sequence for every document) and
 * copies the first one that was filled by a shingle. For a pair of documents both probe the same sequence, so
 * they copy the same bin when it is filled in both, and different bins (disjoint values) otherwise: the slot
 * agrees exactly when the union's first filled bin on the sequence agrees, with probability J.
 */
function densify(plan: OphPlan, sig: Int32Array, scale: number): void {
  const { k } = plan;
  const own = plan.scratch;
  let empty = 0;
  for (let j = 0; j < k; j++) empty += sig[j] === SIG_EMPTY ? 1 : 0;
  if (empty === 0 || empty === k) return; // k: only a hash equal to SIG_EMPTY itself (p = 2^-32), keep it
  own.set(sig.subarray(0, k));
  const probes = plan.probes;
  for (let j = 0; j < k; j++) {
    if (own[j] !== SIG_EMPTY) continue;
    let got = SIG_EMPTY;
    for (let t = 0, q = j * PROBES; t < PROBES && got === SIG_EMPTY; t++) got = own[probes[q + t]!]!;
    sig[j] = got;
  }
  probeOn(plan, own, sig, scale);
}

/**
 * The probe steps after the table, for the bins of `sig` still empty, over the filled bins of `own` (the
 * signature before densification).
 */
function probeOn(plan: OphPlan, own: Int32Array, sig: Int32Array, scale: number): void {
  const { k, probeSalt } = plan;
  let filled = 0;
  for (let j = 0; j < k; j++) filled += own[j] === SIG_EMPTY ? 0 : 1;
  if (filled === 0) return; // only a hash equal to SIG_EMPTY itself (p = 2^-32): keep the empty signature
  for (let j = 0; j < k; j++) {
    let got = sig[j]!;
    if (got !== SIG_EMPTY) continue;
    // expected k / filled probes; the cap only guards against a pathological sequence (then a fixed scan)
    for (let t = PROBES + 1, cap = 64 * k; t <= cap && got === SIG_EMPTY; t++) got = own[probeBin(j, t, probeSalt, scale)]!;
    if (got === SIG_EMPTY) for (let c = (j + 1) % k; got === SIG_EMPTY; c = (c + 1) % k) got = own[c]!;
    sig[j] = got;
  }
}
