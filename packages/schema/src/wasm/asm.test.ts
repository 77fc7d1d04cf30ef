import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { F64, FnBuilder, I32, I64, instantiate, moduleBytes, op, sleb, uleb, V128, v } from "./asm.js";

/** Decoders for the property tests (the spec's LEB128). */
const readUleb = (b: number[]) => b.reduce((acc, x, i) => acc + (x & 0x7f) * 2 ** (7 * i), 0);
const readSleb = (b: number[]) => {
  let v = 0;
  b.forEach((x, i) => (v |= (x & 0x7f) << (7 * i)));
  const bits = 7 * b.length;
  return bits < 32 && b.at(-1)! & 0x40 ? v - 2 ** bits : v | 0;
};

describe("wasmAsm", () => {
  it("encodes LEB128 as the spec's examples", () => {
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
  });

  test.prop([fc.integer({ min: 0, max: 2 ** 40 })])("uleb round-trips", (n) => {
    expect(readUleb(uleb(n))).toBe(n);
  });

  test.prop([fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })])("sleb round-trips 32-bit integers", (n) => {
    expect(readSleb(sleb(n))).toBe(n);
  });

  it("builds a module whose functions call each other, return values and use i64 and memory", () => {
    // popcnt64(x: i32 address) -> i32: population count of the i64 at that address; twice(a) = 2 × popcnt64(a).
    const pop = new FnBuilder([I32], [I32]).emit(op.get(0), op.i64Load(), op.i64Popcnt, op.i32WrapI64);
    const twice = new FnBuilder([I32], [I32]);
    const t = twice.local(I64);
    twice.emit(op.get(0), op.call(0), op.i64ExtendI32U, op.set(t), op.get(t), op.get(t), op.i64Add, op.i32WrapI64);
    const exports = instantiate(moduleBytes(1, [{ name: "pop", fn: pop }, { name: "twice", fn: twice }]))!;
    const mem = new BigInt64Array((exports.mem as { buffer: ArrayBuffer }).buffer);
    mem[1] = -1n;
    mem[2] = 0x0101n;
    const call = (name: string, at: number) => (exports[name] as (a: number) => number)(at);
    expect([call("pop", 8), call("pop", 16), call("twice", 8)]).toEqual([64, 2, 128]);
  });

  it("encodes the float, byte-load and SIMD lane, or, any-true and narrowing opcodes the merge kernels use", () => {
    // absDiff(x, y) = bits of |f32(x) − f32(y)|; tenth() = 0.1; byte(a) = the unsigned byte at a.
    const absDiff = new FnBuilder([I32, I32], [I32]).emit(op.get(0), op.f32ReinterpretI32, op.get(1), op.f32ReinterpretI32, op.f32Sub, op.f32Abs, op.i32ReinterpretF32);
    const tenth = new FnBuilder([], [F64]).emit(op.f64(0.1));
    const byte = new FnBuilder([I32], [I32]).emit(op.get(0), op.i32Load8u());
    // orLane(x) = lane 2 of splat(x) | splat(0xF0); any(x) = any lane of splat(x) non-zero.
    const orLane = new FnBuilder([I32], [I32]).emit(op.get(0), v.i32x4Splat, v.i32x4Const(0xf0), v.or, v.i32x4ExtractLane(2));
    const any = new FnBuilder([I32], [I32]).emit(op.get(0), v.i32x4Splat, v.anyTrue);
    // narrow(x, a): x saturated to i16 then i8, the low 8 lanes stored at a.
    const narrow = new FnBuilder([I32, I32]);
    const t = narrow.local(V128);
    narrow.emit(op.get(1), op.get(0), v.i32x4Splat, op.tee(t), op.get(t), v.i16x8NarrowI32x4S, op.tee(t), op.get(t), v.i8x16NarrowI16x8S, v.store64Lane(0));
    const fns = { absDiff, tenth, byte, orLane, any, narrow };
    const exports = instantiate(moduleBytes(1, Object.entries(fns).map(([name, fn]) => ({ name, fn }))))!;
    const call = (name: keyof typeof fns, ...args: number[]) => (exports[name] as (...a: number[]) => number)(...args);
    const bits = (x: number) => new Int32Array(Float32Array.of(x).buffer)[0]!;
    expect(call("absDiff", bits(1.5), bits(4))).toBe(bits(2.5));
    expect(call("tenth")).toBe(0.1);
    const mem = new Uint8Array((exports.mem as { buffer: ArrayBuffer }).buffer);
    mem[3] = 200;
    expect(call("byte", 3)).toBe(200);
    expect([call("orLane", 0x10f), call("any", 0), call("any", 7)]).toEqual([0x1ff, 0, 1]);
    call("narrow", 300, 16);
    call("narrow", -5, 24);
    expect([...mem.subarray(16, 33)]).toEqual([...Array(8).fill(127), ...Array(8).fill(0xfb), 0]);
  });

  it("answers undefined for bytes that do not validate", () => {
    expect(instantiate(new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 9, 9, 9]))).toBeUndefined();
  });
});
