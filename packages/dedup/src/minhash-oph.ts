// One-permutation hashing with optimal densification (Li, Owen & Zhang 2012; Shrivastava 2017): each shingle is
// hashed once into one of `k` bins, each bin keeps its minimum, and an empty bin borrows the value of the first
// non-empty bin on a fixed pseudo-random probe sequence of its own. O(m + k) per document instead of MinHash's
// O(m·k), with the same estimator: two signatures agree in a slot with probability exactly J (each slot is a
// min-wise sample of the union), so `numPerm` slots still estimate Jaccard as the share of equal slots.
import { fmix32, HASH_SCHEME, SIG_EMPTY } from "./minhash-kernel.js";
import { section, sleb, str, uleb, vec, Wasm, type WasmMemory } from "./minhash-simd.js";

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

/**
 * {@link ophInto} as a few hundred bytes of WebAssembly (no build step): sig reset, binning with a `select` for
 * the minimum (never a branch: whether a shingle lowers its bin is a coin flip), the mixing four hashes at a time
 * on SIMD lanes when k is a power of two, and densification through the probe table. Params: hOff m sigOff salt
 * k probesOff outOff simdCount (hashes for the vector loop, a multiple of 4) shift (32 − log2 k); returns how many empty bins found no filled bin
 * within the table (then the caller densifies `sig` in JavaScript instead). Memory: probe table, sig (before
 * densification), out (after), hashes.
 */
function ophModuleBytes(): Uint8Array {
  const [hOff, m, sigOff, salt, k, probesOff, outOff, simdCount, shift] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [p, end, y, addr, v, s, j, q, t, bad] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const [Y, B, V, SALT] = [19, 20, 21, 22]; // v128
  const g = (i: number) => [0x20, ...uleb(i)];
  const set = (i: number) => [0x21, ...uleb(i)];
  const i32 = (n: number) => [0x41, ...sleb(n | 0)];
  const [XOR, SHR_U, MUL, ADD, SHL, LT_S, GE_U, EQ, NE, SELECT] = [0x73, 0x76, 0x6c, 0x6a, 0x74, 0x48, 0x4f, 0x46, 0x47, 0x1b];
  const [EXT_U, I64_MUL, I64_SHR_U, WRAP] = [0xad, 0x7e, 0x88, 0xa7];
  const [BLOCK, LOOP, IF, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x04, 0x0c, 0x0d, 0x0b, 0x40];
  const LOAD = [0x28, 2, 0];
  const STORE = [0x36, 2, 0];
  const xorShift = (n: number) => [...g(y), ...g(y), ...i32(n), SHR_U, XOR, ...set(y)];
  const at = (base: number, idx: number[]) => [...g(base), ...idx, ...i32(2), SHL, ADD];
  const loopWhile = (counter: number, limit: number[], inner: number[]) => [
    ...i32(0), ...set(counter), BLOCK, VOID, LOOP, VOID, ...g(counter), ...limit, GE_U, BR_IF, 1,
    ...inner, ...g(counter), ...i32(1), ADD, ...set(counter), BR, 0, END, END,
  ];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const splat = (n: number) => [...simd(0x0c), ...Array.from({ length: 4 }, () => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]).flat()];
  const [V_XOR, X4_SHR_U, X4_MUL, X4_SPLAT] = [simd(0x51), simd(0xad), simd(0xb5), simd(0x11)];
  const vXorShift = (n: number) => [...g(Y), ...g(Y), ...i32(n), ...X4_SHR_U, ...V_XOR, ...set(Y)];
  const scatter = (bin: number[], value: number[]) => [
    ...at(sigOff, bin), ...set(addr), ...value, ...set(v),
    ...g(addr), ...LOAD, ...set(s),
    ...g(addr), ...g(v), ...g(s), ...g(v), ...g(s), LT_S, SELECT, ...STORE,
  ];
  const body = [
    // sig[0..k) = SIG_EMPTY
    ...loopWhile(j, g(k), [...at(sigOff, g(j)), ...i32(SIG_EMPTY), ...STORE]),
    // binning, four hashes per step where k is a power of two (bin = y >>> shift, the same as below)
    ...g(salt), ...X4_SPLAT, ...set(SALT),
    ...g(hOff), ...set(p),
    ...g(hOff), ...g(simdCount), ...i32(2), SHL, ADD, ...set(end),
    BLOCK, VOID, LOOP, VOID,
    ...g(p), ...g(end), GE_U, BR_IF, 1,
    ...g(p), ...simd(0x00), 0, 0, ...g(SALT), ...V_XOR, ...set(Y),
    ...vXorShift(16), ...g(Y), ...splat(0x85ebca6b), ...X4_MUL, ...set(Y),
    ...vXorShift(13), ...g(Y), ...splat(0xc2b2ae35), ...X4_MUL, ...set(Y),
    ...vXorShift(16),
    ...g(Y), ...g(shift), ...X4_SHR_U, ...set(B),
    ...g(Y), ...splat(0x80000000), ...V_XOR, ...set(V),
    ...[0, 1, 2, 3].flatMap((lane) => scatter([...g(B), ...simd(0x1b), lane], [...g(V), ...simd(0x1b), lane])),
    ...g(p), ...i32(16), ADD, ...set(p), BR, 0, END, END,
    // the rest one at a time, from where the vector loop stopped
    ...g(hOff), ...g(m), ...i32(2), SHL, ADD, ...set(end),
    BLOCK, VOID, LOOP, VOID,
    ...g(p), ...g(end), GE_U, BR_IF, 1,
    ...g(p), ...LOAD, ...g(salt), XOR, ...set(y),
    ...xorShift(16), ...g(y), ...i32(0x85ebca6b), MUL, ...set(y),
    ...xorShift(13), ...g(y), ...i32(0xc2b2ae35), MUL, ...set(y),
    ...xorShift(16),
    // bin = (y · k) >> 32 in 64 bits
    ...scatter([...g(y), EXT_U, ...g(k), EXT_U, I64_MUL, 0x42, 32, I64_SHR_U, WRAP], [...g(y), ...i32(0x80000000), XOR]),
    ...g(p), ...i32(4), ADD, ...set(p), BR, 0, END, END,
    // densification through the probe table
    ...i32(0), ...set(bad),
    ...loopWhile(j, g(k), [
      ...at(sigOff, g(j)), ...LOAD, ...set(v),
      ...g(v), ...i32(SIG_EMPTY), EQ, IF, VOID,
      ...at(probesOff, [...g(j), ...i32(PROBES), MUL]), ...set(q),
      ...i32(0), ...set(t), BLOCK, VOID, LOOP, VOID, ...g(t), ...i32(PROBES), GE_U, BR_IF, 1,
      ...at(sigOff, [...g(q), ...LOAD]), ...LOAD, ...set(v),
      ...g(v), ...i32(SIG_EMPTY), NE, BR_IF, 1,
      ...g(q), ...i32(4), ADD, ...set(q), ...g(t), ...i32(1), ADD, ...set(t), BR, 0, END, END,
      ...g(bad), ...g(v), ...i32(SIG_EMPTY), EQ, ADD, ...set(bad),
      END,
      ...at(outOff, g(j)), ...g(v), ...STORE,
    ]),
    ...g(bad), END,
  ];
  const func = [...vec([[10, 0x7f], [4, 0x7b]]), ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(Array.from({ length: 9 }, () => [0x7f])), ...vec([[0x7f]])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...str("mem"), 0x02, 0], [...str("oph"), 0x00, 0]])),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
}

let ophCompiled: object | null | undefined;

/**
 * {@link ophInto} on WebAssembly for one plan: one instance per thread (it owns its memory). `null` where the
 * runtime has no WebAssembly; callers then keep the JavaScript loop, which gives the same bits.
 */
export function createWasmOph(plan: OphPlan): ((h: Int32Array, m: number, sig: Int32Array) => void) | null {
  if (ophCompiled === undefined) {
    try {
      const bytes = ophModuleBytes();
      ophCompiled = Wasm?.validate(bytes) ? new Wasm.Module(bytes) : null;
    } catch {
      ophCompiled = null;
    }
  }
  if (!ophCompiled) return null;
  const inst = new Wasm!.Instance(ophCompiled);
  const mem = inst.exports.mem as WasmMemory;
  const fn = inst.exports.oph as (hOff: number, m: number, sigOff: number, salt: number, k: number, probesOff: number, outOff: number, simdCount: number, shift: number) => number;
  const { k, salt } = plan;
  // layout in 4-byte words: probe table, sig, out, hashes
  const sigAt = k * PROBES;
  const outAt = sigAt + k;
  const hAt = outAt + k;
  let heap = new Int32Array(mem.buffer);
  let before = heap.subarray(sigAt, outAt);
  let after = heap.subarray(outAt, hAt);
  const scale = k * TWO_POW_M32;
  // for k = 2^b (b ≥ 1) the top b bits are the bin, four lanes at a time; other k take the 64-bit multiply
  const pow2 = k >= 2 && (k & (k - 1)) === 0;
  const shift = pow2 ? 32 - Math.log2(k) : 0;
  const grow = (m: number) => {
    const need = 4 * (hAt + m);
    if (need > mem.buffer.byteLength) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
    heap = new Int32Array(mem.buffer);
    before = heap.subarray(sigAt, outAt);
    after = heap.subarray(outAt, hAt);
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
    const unresolved = fn(4 * hAt, m, 4 * sigAt, salt, k, 0, 4 * outAt, pow2 ? m & ~3 : 0, shift);
    sig.set(after);
    // bins whose tabled probes all hit empty bins (small sets) go on along their sequence here
    if (unresolved > 0) probeOn(plan, before, sig, scale);
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
