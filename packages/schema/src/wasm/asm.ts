// A tiny WebAssembly assembler shared by the packages that generate their hot kernels at run time (no build
// step, no toolchain, no dependency): LEB128, the opcodes in use, one function builder and a module writer.

export const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};

/** Signed LEB128 of a 32-bit integer (also right for i64 constants in the int32 range). */
export const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const str = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

export const I32 = 0x7f, I64 = 0x7e, F32 = 0x7d, F64 = 0x7c, V128 = 0x7b;

// Scalar opcodes. Memory ops take the byte offset; alignment hints are the natural ones.
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  else: [0x05],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  return: [0x0f],
  call: (fn: number) => [0x10, ...uleb(fn)],
  end: [0x0b],
  drop: [0x1a],
  select: [0x1b],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (n: number) => [0x41, ...sleb(n | 0)],
  i64: (n: number) => [0x42, ...sleb(n | 0)],
  f64: (x: number) => [0x44, ...new Uint8Array(Float64Array.of(x).buffer)],
  i32Load: (offset = 0) => [0x28, 2, ...uleb(offset)],
  i64Load: (offset = 0) => [0x29, 3, ...uleb(offset)],
  f64Load: (offset = 0) => [0x2b, 3, ...uleb(offset)],
  i32Load8u: (offset = 0) => [0x2d, 0, ...uleb(offset)],
  i32Load16u: (offset = 0) => [0x2f, 1, ...uleb(offset)],
  i32Store: (offset = 0) => [0x36, 2, ...uleb(offset)],
  i64Store: (offset = 0) => [0x37, 3, ...uleb(offset)],
  f64Store: (offset = 0) => [0x39, 3, ...uleb(offset)],
  i32Store8: (offset = 0) => [0x3a, 0, ...uleb(offset)],
  i32Store16: (offset = 0) => [0x3b, 1, ...uleb(offset)],
  i32Eqz: [0x45],
  i32Eq: [0x46],
  i32Ne: [0x47],
  i32LtS: [0x48],
  i32LtU: [0x49],
  i32GtU: [0x4b],
  i32LeU: [0x4d],
  i32GeU: [0x4f],
  i64LtU: [0x54],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Or: [0x72],
  i32Xor: [0x73],
  i32Shl: [0x74],
  i32ShrU: [0x76],
  i32Rotl: [0x77],
  i64Popcnt: [0x7b],
  i64Add: [0x7c],
  i64Sub: [0x7d],
  i64Mul: [0x7e],
  i64And: [0x83],
  i64Or: [0x84],
  i64Xor: [0x85],
  i64Shl: [0x86],
  i64ShrU: [0x88],
  f32Abs: [0x8b],
  f32Sub: [0x93],
  i32WrapI64: [0xa7],
  i64ExtendI32U: [0xad],
  f64Add: [0xa0],
  f64Mul: [0xa2],
  f64PromoteF32: [0xbb],
  i32ReinterpretF32: [0xbc],
  f32ReinterpretI32: [0xbe],
} as const;

const simd = (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm];
// SIMD opcodes (memory ones take the byte offset; alignment hints are left at 1 byte).
export const v = {
  load: (offset = 0) => simd(0x00, 0, ...uleb(offset)),
  load8x8u: (offset = 0) => simd(0x02, 0, ...uleb(offset)),
  load32Splat: (offset = 0) => simd(0x09, 0, ...uleb(offset)),
  load64Splat: (offset = 0) => simd(0x0a, 0, ...uleb(offset)),
  store: (offset = 0) => simd(0x0b, 0, ...uleb(offset)),
  const: (bytes: number[]) => simd(0x0c, ...bytes),
  i32x4Const: (x: number) => simd(0x0c, ...[0, 1, 2, 3].flatMap(() => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff])),
  shuffle: (lanes: number[]) => simd(0x0d, ...lanes),
  store64Lane: (lane: number, offset = 0) => simd(0x5b, 0, ...uleb(offset), lane),
  i32x4Splat: simd(0x11),
  i32x4ExtractLane: (lane: number) => simd(0x1b, lane),
  and: simd(0x4e),
  xor: simd(0x51),
  or: simd(0x50),
  bitselect: simd(0x52),
  anyTrue: simd(0x53),
  i8x16NarrowI16x8S: simd(0x65),
  i16x8NarrowI32x4S: simd(0x85),
  i32x4Eq: simd(0x37),
  i32x4Ne: simd(0x38),
  i32x4GtU: simd(0x3c),
  f32x4Eq: simd(0x41),
  f32x4Lt: simd(0x43),
  f32x4Gt: simd(0x44),
  f32x4Ge: simd(0x46),
  f32x4DemoteF64x2Zero: simd(0x5e),
  f64x2PromoteLowF32x4: simd(0x5f),
  i16x8NarrowI32x4U: simd(0x86),
  i32x4ExtendLowI16x8U: simd(0xa9),
  i32x4ExtendHighI16x8U: simd(0xaa),
  i32x4Shl: simd(0xab),
  i32x4ShrU: simd(0xad),
  i32x4Add: simd(0xae),
  i32x4Mul: simd(0xb5),
  i32x4MinS: simd(0xb6),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f64x2Add: simd(0xf0),
  f64x2Mul: simd(0xf2),
} as const;

/** One function: parameter types and result types, then locals added as the body is written. */
export class FnBuilder {
  readonly params: number[];
  readonly results: number[];
  private readonly locals: number[] = [];
  readonly code: number[] = [];

  constructor(params: number[], results: number[] = []) {
    this.params = params;
    this.results = results;
  }

  /** A new local of `type`; returns its index. */
  local(type: number): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  emit(...parts: ReadonlyArray<readonly number[]>): this {
    for (const p of parts) for (const b of p) this.code.push(b);
    return this;
  }

  /** The function body as the code section wants it. */
  body(): number[] {
    const groups: number[][] = this.locals.map((t) => [1, t]);
    const b = [...vec(groups), ...this.code, ...op.end];
    return [...uleb(b.length), ...b];
  }
}

/**
 * A module over one exported memory `mem` of `pages` 64 KiB pages (growable). Function `i` of `fns` has index
 * `i` (for `op.call`); those with a `name` are exported under it.
 */
export function moduleBytes(pages: number, fns: Array<{ name?: string; fn: FnBuilder }>): Uint8Array {
  const types = fns.map(({ fn }) => [0x60, ...vec(fn.params.map((t) => [t])), ...vec(fn.results.map((t) => [t]))]);
  const exported = fns.flatMap(({ name }, i) => (name === undefined ? [] : [[...str(name), 0x00, ...uleb(i)]]));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([[...str("mem"), 0x02, 0], ...exported])),
    ...section(10, vec(fns.map(({ fn }) => fn.body()))),
  ]);
}

// The packages' type libraries carry no WebAssembly declarations: the little used here, typed by hand.
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

/** Compile, or undefined where the runtime lacks Wasm (or a feature the bytes use, such as SIMD). */
export function compile(bytes: Uint8Array): object | undefined {
  try {
    return Wasm?.validate(bytes) ? new Wasm.Module(bytes) : undefined;
  } catch {
    return undefined;
  }
}

/** Compile and instantiate, or undefined where the runtime lacks Wasm (or SIMD). */
export function instantiate(bytes: Uint8Array): Record<string, unknown> | undefined {
  const mod = compile(bytes);
  try {
    return mod && Wasm ? new Wasm.Instance(mod).exports : undefined;
  } catch {
    return undefined;
  }
}
