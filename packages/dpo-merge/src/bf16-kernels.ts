// The bf16 → bf16 merge kernels on WebAssembly SIMD: per 8 elements, widen each input (a bf16 is the top half
// of a float32), merge in float32 with the same operations in the same order as the JavaScript operators
// (`mixChunk`, `linearMerge`, `slerpApply`), and round back to bf16 (nearest even, NaN → 0x7FC0, as `f32ToBf16`),
// with no float32 array in between. The module is generated per configuration, so the per-element path has no
// tests of options; where the runtime lacks Wasm SIMD, `Bf16Engine.create` returns undefined and callers keep the
// JavaScript path.
import { wasmAsm } from "@sfmed/schema/io";
import { mixFn } from "./mix-kernel.js";
import { cutFn, histHiFn, histLoFn, l1Fn } from "./trim-kernels.js";

const { F64, FnBuilder, I32, instantiate, moduleBytes, op } = wasmAsm;
type FnBuilder = wasmAsm.FnBuilder;
type WasmMemory = wasmAsm.WasmMemory;

/** The shape of one merge: what is baked into the generated code (values are set per tensor). */
export interface MixSpec {
  /**
   * `task`: inputs are the base then `k` models (task arithmetic, TIES-style sign consensus, DARE masks);
   * `linear`: inputs are `k` models, Σ w_i θ_i (÷ s); `slerp`: inputs a, b, ca·a + cb·b.
   */
  kind: "task" | "linear" | "slerp";
  k: number;
  /** task: which models have a keep-mask. */
  masked: boolean[];
  /** task: per model, divide or multiply the masked delta by its scale. */
  scale: Array<"div" | "mul" | undefined>;
  /** task: sign election and disjoint mean. */
  consensus: boolean;
  /** task: divide by the (agreeing) weight sum; linear: divide by s. */
  normalize: boolean;
  /** task: scale the mix by λ. */
  lambda: boolean;
  /** task: room for the per-model counters of the TIES magnitude cut (`histHi`, `histLo`, `cutMask`). */
  trim?: boolean;
}

/** Per-tensor values of a {@link MixSpec}. */
export interface MixValues {
  weights: number[];
  /** task: per model scale (see {@link MixSpec.scale}). */
  scales?: number[];
  /** task without consensus: Σ w_i; linear: the divisor s. */
  wsum?: number;
  lambda?: number;
  /** slerp: the two coefficients. */
  coef?: [number, number];
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;
const HI_BINS = 1 << 15;
const LO_BINS = 1 << 16;
const HIST_BYTES = 4 * (HI_BINS + LO_BINS);

/** Byte offsets of the module memory's regions for one configuration. */
export interface Layout {
  nIn: number;
  f64: number;
  rng: number;
  acc: number;
  data: number;
  stride: number;
  mask: number;
  mstride: number;
  out: number;
  /** Per model: 32768 high-half then 65536 low-half u32 counters (only with `trim`). */
  hist: number;
  /** Per model: the i32 count of ties at the cut still to keep. */
  ties: number;
  total: number;
}

function layout(spec: MixSpec, chunk: number): Layout {
  const k = spec.k;
  const nIn = spec.kind === "task" ? k + 1 : spec.kind === "linear" ? k : 2;
  const f64 = align(4 * (2 * k + 5), 16);
  const rng = align(f64 + 8 * k, 16);
  const acc = rng + 16 * k;
  const data = align(acc + 24, 64);
  const stride = align(chunk * 2, 16);
  const mask = data + 2 * nIn * stride;
  const mstride = align(chunk, 16);
  const out = mask + k * mstride;
  const ties = align(out + stride, 16);
  const hist = ties + 4 * k;
  const total = hist + (spec.trim ? k * HIST_BYTES : 0);
  return { nIn, f64, rng, acc, data, stride, mask, mstride, out, hist, ties, total };
}

/** sums(aOff, bOff, n): Σa², Σb², Σab over n bf16 pairs into the float64s at `acc`, one element after the other (the order of `slerpSums`). */
function sumsFn(L: Layout): FnBuilder {
  const f = new FnBuilder([I32, I32, I32]);
  const [aOff, bOff, n] = [0, 1, 2];
  const i = f.local(I32), aa = f.local(F64), bb = f.local(F64), ab = f.local(F64), x = f.local(F64), y = f.local(F64);
  const { get, set } = op;
  const load = (base: number) => [...get(base), ...get(i), ...op.i32Add, ...op.i32Load16u(), ...op.i32(16), ...op.i32Shl, ...op.f32ReinterpretI32, ...op.f64PromoteF32];
  f.emit(op.i32(0), op.f64Load(L.acc), set(aa), op.i32(0), op.f64Load(L.acc + 8), set(bb), op.i32(0), op.f64Load(L.acc + 16), set(ab));
  f.emit(get(n), get(n), op.i32Add, set(n), op.i32(0), set(i), op.block, op.loop, get(i), get(n), op.i32GeU, op.brIf(1));
  f.emit(load(aOff), set(x), load(bOff), set(y));
  f.emit(get(aa), get(x), get(x), op.f64Mul, op.f64Add, set(aa));
  f.emit(get(bb), get(y), get(y), op.f64Mul, op.f64Add, set(bb));
  f.emit(get(ab), get(x), get(y), op.f64Mul, op.f64Add, set(ab));
  f.emit(get(i), op.i32(2), op.i32Add, set(i), op.br(0), op.end, op.end);
  f.emit(op.i32(0), get(aa), op.f64Store(L.acc), op.i32(0), get(bb), op.f64Store(L.acc + 8), op.i32(0), get(ab), op.f64Store(L.acc + 16));
  return f;
}

/**
 * bernoulli(stateOff, outOff, n, thr): n mask bytes from the xoshiro128** stream whose state sits at stateOff
 * (the `seededRng` step), 0xFF where the output r ≤ thr (unsigned), else 0; the state is written back.
 */
function bernoulliFn(): FnBuilder {
  const f = new FnBuilder([I32, I32, I32, I32]);
  const [st, outOff, n, thr] = [0, 1, 2, 3];
  const i = f.local(I32), a = f.local(I32), b = f.local(I32), c = f.local(I32), d = f.local(I32), r = f.local(I32), t = f.local(I32);
  const { get, set } = op;
  f.emit(get(st), op.i32Load(0), set(a), get(st), op.i32Load(4), set(b), get(st), op.i32Load(8), set(c), get(st), op.i32Load(12), set(d));
  f.emit(op.i32(0), set(i), op.block, op.loop, get(i), get(n), op.i32GeU, op.brIf(1));
  f.emit(get(b), op.i32(5), op.i32Mul, op.i32(7), op.i32Rotl, op.i32(9), op.i32Mul, set(r));
  f.emit(get(b), op.i32(9), op.i32Shl, set(t));
  f.emit(get(c), get(a), op.i32Xor, set(c), get(d), get(b), op.i32Xor, set(d), get(b), get(c), op.i32Xor, set(b));
  f.emit(get(a), get(d), op.i32Xor, set(a), get(c), get(t), op.i32Xor, set(c), get(d), op.i32(11), op.i32Rotl, set(d));
  f.emit(get(outOff), get(i), op.i32Add, op.i32(0), get(r), get(thr), op.i32LeU, op.i32Sub, op.i32Store8());
  f.emit(get(i), op.i32(1), op.i32Add, set(i), op.br(0), op.end, op.end);
  f.emit(get(st), get(a), op.i32Store(0), get(st), get(b), op.i32Store(4), get(st), get(c), op.i32Store(8), get(st), get(d), op.i32Store(12));
  return f;
}

const specKey = (s: MixSpec, chunk: number) => JSON.stringify([s, chunk]);
/** Instances per thread, by configuration: each owns a fixed memory, never grown (views into it stay valid). */
const cache = new Map<string, Bf16Engine | null>();

/**
 * One thread's bf16 merge engine for a {@link MixSpec} and a chunk size: two sets of input buffers (one being
 * read into while the other is merged), mask buffers and an output buffer, all in the module's memory.
 */
export class Bf16Engine {
  readonly spec: MixSpec;
  readonly chunk: number;
  private readonly L: Layout;
  private readonly mem: WasmMemory;
  private readonly fns: {
    mix: (a: number, b: number, c: number, d: number) => void;
    sums: (a: number, b: number, n: number) => void;
    bernoulli: (s: number, o: number, n: number, t: number) => void;
    histHi: (b: number, m: number, nBytes: number, hist: number) => void;
    histLo: (b: number, m: number, nBytes: number, hist: number, bucket: number) => void;
    cut: (b: number, m: number, nBytes: number, mask: number, thr: number, tie: number) => void;
    l1: (b: number, m: number, mask: number, nBytes: number, acc: number) => void;
  };

  private constructor(spec: MixSpec, chunk: number, L: Layout, exports: Record<string, unknown>) {
    this.spec = spec;
    this.chunk = chunk;
    this.L = L;
    this.mem = exports.mem as WasmMemory;
    this.fns = exports as unknown as Bf16Engine["fns"];
  }

  /** The engine for this configuration (cached per thread), or undefined where Wasm SIMD is unavailable. */
  static get(spec: MixSpec, chunk: number): Bf16Engine | undefined {
    const key = specKey(spec, chunk);
    let e = cache.get(key);
    if (e === undefined) {
      const L = layout(spec, chunk);
      const bytes = moduleBytes(Math.ceil(L.total / 65536), [
        { name: "mix", fn: mixFn(spec, L) },
        { name: "sums", fn: sumsFn(L) },
        { name: "bernoulli", fn: bernoulliFn() },
        { name: "histHi", fn: histHiFn() },
        { name: "histLo", fn: histLoFn() },
        { name: "cut", fn: cutFn() },
        { name: "l1", fn: l1Fn() },
      ]);
      const ex = instantiate(bytes);
      e = ex ? new Bf16Engine(spec, chunk, L, ex) : null;
      // A few configurations at a time (a long-lived process may merge in many shapes); callers keep theirs.
      if (cache.size >= 4) cache.delete(cache.keys().next().value!);
      cache.set(key, e);
    }
    return e ?? undefined;
  }

  /** Number of inputs (task: base + k models; linear: k; slerp: 2). */
  get inputs(): number {
    return this.L.nIn;
  }

  /** The bytes of input `i` in buffer set `set` (room for `chunk` bf16 elements). */
  input(set: number, i: number): Uint8Array {
    return new Uint8Array(this.mem.buffer, this.L.data + (set * this.L.nIn + i) * this.L.stride, 2 * this.chunk);
  }

  /** Set the per-tensor values (float32-rounded as the JavaScript operators round them). */
  setValues(x: MixValues): void {
    const k = this.spec.k;
    const f32 = new Float32Array(this.mem.buffer, 0, 2 * k + 5);
    const f64 = new Float64Array(this.mem.buffer, this.L.f64, k);
    for (let i = 0; i < k; i++) {
      f32[i] = x.weights[i] ?? 0;
      f64[i] = f32[i]!;
      f32[k + i] = x.scales?.[i] ?? 1;
    }
    f32[2 * k] = x.wsum ?? 1;
    f32[2 * k + 1] = x.lambda ?? 1;
    f32[2 * k + 2] = x.coef?.[0] ?? 0;
    f32[2 * k + 3] = x.coef?.[1] ?? 0;
  }

  /** Start model i's mask stream from these xoshiro128** state words. */
  setRngState(i: number, state: Uint32Array): void {
    new Uint32Array(this.mem.buffer, this.L.rng + 16 * i, 4).set(state);
  }

  /**
   * The next n entries of model i's keep-mask: kept with probability p, drawn exactly as `bernoulliMask` draws
   * (`rng() < p`, i.e. the 32-bit output r < p·2³²).
   */
  drawMask(i: number, n: number, p: number): void {
    const off = this.L.mask + i * this.L.mstride;
    const cut = Math.ceil(p * 4294967296);
    if (cut <= 0) new Uint8Array(this.mem.buffer, off, n).fill(0);
    else this.fns.bernoulli(this.L.rng + 16 * i, off, n, Math.min(cut, 4294967296) - 1);
  }

  /** The xoshiro128** state of model i's mask stream (a copy: give it back with `setRngState`). */
  rngState(i: number): Uint32Array {
    return new Uint32Array(this.mem.buffer, this.L.rng + 16 * i, 4).slice();
  }

  /** Byte offset of task model i's input in set `set` (input 0 is the base). */
  private modelOff(set: number, i: number): number {
    return this.L.data + (set * this.L.nIn + i + 1) * this.L.stride;
  }

  /** Model i's magnitude counters: 32768 for the high 16 bits of |δ|, then 65536 for the low 16 bits (`trim` engines). */
  counts(i: number): { hi: Uint32Array; lo: Uint32Array } {
    const off = this.L.hist + i * HIST_BYTES;
    return { hi: new Uint32Array(this.mem.buffer, off, HI_BINS), lo: new Uint32Array(this.mem.buffer, off + 4 * HI_BINS, LO_BINS) };
  }

  /** Count the high 16 bits of |δ_i| = |f32(θ_i) − f32(θ_b)| over n elements of set `set`. */
  histHi(set: number, i: number, n: number): void {
    this.fns.histHi(this.modelOff(set, -1), this.modelOff(set, i), 2 * n, this.L.hist + i * HIST_BYTES);
  }

  /** Count the low 16 bits of the |δ_i| whose high 16 bits equal `bucket`. */
  histLo(set: number, i: number, n: number, bucket: number): void {
    this.fns.histLo(this.modelOff(set, -1), this.modelOff(set, i), 2 * n, this.L.hist + i * HIST_BYTES + 4 * HI_BINS, bucket);
  }

  /** Start model i's cut: `ties` elements whose |δ| bits equal the threshold are still to be kept. */
  setTies(i: number, ties: number): void {
    new Int32Array(this.mem.buffer, this.L.ties + 4 * i, 1)[0] = ties;
  }

  /** Model i's keep-mask for the next n elements: |δ| bits above `threshold`, or equal while ties remain (`TopKCut.mask`). */
  cutMask(set: number, i: number, n: number, threshold: number): void {
    this.fns.cut(this.modelOff(set, -1), this.modelOff(set, i), 2 * n, this.L.mask + i * this.L.mstride, threshold | 0, this.L.ties + 4 * i);
  }

  /** Add Σ|δ_i| and Σ|δ_i| over model i's current mask (n elements of set `set`, in element order, float64) to `acc`. */
  l1Norms(set: number, i: number, n: number, acc: { before: number; after: number }): void {
    const a = new Float64Array(this.mem.buffer, this.L.acc, 2);
    a[0] = acc.before;
    a[1] = acc.after;
    this.fns.l1(this.modelOff(set, -1), this.modelOff(set, i), this.L.mask + i * this.L.mstride, 2 * n, this.L.acc);
    acc.before = a[0]!;
    acc.after = a[1]!;
  }

  /** Set model i's whole mask to drop (0) or keep (0xFF) everything. */
  fillMask(i: number, keep: boolean): void {
    new Uint8Array(this.mem.buffer, this.L.mask + i * this.L.mstride, this.L.mstride).fill(keep ? 0xff : 0);
  }

  /** Merge n elements of buffer set `set`; returns a view of the bf16 output bytes (valid until the next call). */
  mix(set: number, n: number): Uint8Array {
    const groups = Math.ceil(n / 8);
    this.fns.mix(this.L.data + set * this.L.nIn * this.L.stride, this.L.mask, this.L.out, 16 * groups);
    return new Uint8Array(this.mem.buffer, this.L.out, 2 * n);
  }

  /** Add Σa², Σb², Σab over n elements of inputs 0 and 1 of set `set` to `acc` (float64, in element order). */
  sums(set: number, n: number, acc: { sumAA: number; sumBB: number; sumAB: number }): void {
    const a = new Float64Array(this.mem.buffer, this.L.acc, 3);
    a[0] = acc.sumAA;
    a[1] = acc.sumBB;
    a[2] = acc.sumAB;
    const base = this.L.data + set * this.L.nIn * this.L.stride;
    this.fns.sums(base, base + this.L.stride, n);
    acc.sumAA = a[0]!;
    acc.sumBB = a[1]!;
    acc.sumAB = a[2]!;
  }
}
