// A few helpers to assemble WebAssembly modules as bytes: the merge kernels are generated per configuration
// (model count, masks, scales) at run time, so there is no build step and no dependency.

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

export const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;

// Scalar opcodes.
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  end: [0x0b],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  i32: (n: number) => [0x41, ...sleb(n | 0)],
  f64: (x: number) => [0x44, ...new Uint8Array(Float64Array.of(x).buffer)],
  select: [0x1b],
  i32Load: (offset = 0) => [0x28, 2, ...uleb(offset)],
  i32Store: (offset = 0) => [0x36, 2, ...uleb(offset)],
  i32Load8u: (offset = 0) => [0x2d, 0, ...uleb(offset)],
  i32Load16u: (offset = 0) => [0x2f, 1, ...uleb(offset)],
  i32Store8: (offset = 0) => [0x3a, 0, ...uleb(offset)],
  f64Load: (offset = 0) => [0x2b, 3, ...uleb(offset)],
  f64Store: (offset = 0) => [0x39, 3, ...uleb(offset)],
  if: [0x04, 0x40],
  else: [0x05],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32Eqz: [0x45],
  i32Eq: [0x46],
  i32GtU: [0x4b],
  i32GeU: [0x4f],
  i32LeU: [0x4d],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Xor: [0x73],
  i32Shl: [0x74],
  i32ShrU: [0x76],
  i32Rotl: [0x77],
  f32Abs: [0x8b],
  f32Sub: [0x93],
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
  or: simd(0x50),
  anyTrue: simd(0x53),
  i8x16NarrowI16x8S: simd(0x65),
  i16x8NarrowI32x4S: simd(0x85),
  bitselect: simd(0x52),
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
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f64x2Add: simd(0xf0),
  f64x2Mul: simd(0xf2),
} as const;

/** One function: parameter types, then locals added as the body is written. */
export class FnBuilder {
  readonly params: number[];
  private readonly locals: number[] = [];
  readonly code: number[] = [];

  constructor(params: number[]) {
    this.params = params;
  }

  /** A new local of `type`; returns its index. */
  local(type: number): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  emit(...parts: ReadonlyArray<readonly number[]>): this {
    for (const p of parts) this.code.push(...p);
    return this;
  }

  /** The function body as the code section wants it. */
  body(): number[] {
    const groups: number[][] = this.locals.map((t) => [1, t]);
    const b = [...vec(groups), ...this.code, ...op.end];
    return [...uleb(b.length), ...b];
  }
}

/** A module of void functions over one exported memory `mem` of `pages` 64 KiB pages. */
export function moduleBytes(pages: number, fns: Array<{ name: string; fn: FnBuilder }>): Uint8Array {
  const types = fns.map(({ fn }) => [0x60, ...vec(fn.params.map((t) => [t])), 0]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([[...str("mem"), 0x02, 0], ...fns.map(({ name }, i) => [...str(name), 0x00, ...uleb(i)])])),
    ...section(10, vec(fns.map(({ fn }) => fn.body()))),
  ]);
}

// The package's type libraries carry no WebAssembly declarations: the little used here, typed by hand.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** Compile and instantiate, or undefined where the runtime lacks Wasm (or SIMD). */
export function instantiate(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    if (!Wasm?.validate(bytes)) return undefined;
    return new Wasm.Instance(new Wasm.Module(bytes)).exports;
  } catch {
    return undefined;
  }
}
