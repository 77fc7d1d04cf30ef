import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { DTYPE_BITS } from "./dtype.js";
import { parseHeader, readHeaderSize } from "./safetensors-header.js";
import { planLayout } from "./safetensors-writer.js";

/** Validate a whole in-memory file the way SafetensorsFile.open does. */
function validate(file: Uint8Array, maxHeaderSize?: number) {
  const opts = maxHeaderSize === undefined ? {} : { maxHeaderSize };
  const n = readHeaderSize(file.subarray(0, 8), file.byteLength, opts);
  return parseHeader(file.subarray(8, 8 + n), file.byteLength, opts);
}

/** A file with the given header object and `dataBytes` of zero data. */
function fileWith(header: unknown, dataBytes: number): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

const code = (c: string) => expect.objectContaining({ name: "SafetensorsError", code: c });

describe("safetensors header validation", () => {
  it("accepts a file laid out by the writer, scalars and empty tensors included", () => {
    const { header, fileSize } = planLayout(
      [
        { name: "b", dtype: "BF16", shape: [3] },
        { name: "a", dtype: "F32", shape: [2, 2] },
        { name: "c", dtype: "I64", shape: [3] },
        { name: "s", dtype: "F32", shape: [] },
        { name: "e", dtype: "F16", shape: [0, 4] },
      ],
      { format: "pt" },
    );
    const file = new Uint8Array(fileSize);
    file.set(header);
    const h = validate(file);
    expect(h.metadata).toEqual({ format: "pt" });
    expect(h.headerSize % 8).toBe(0);
    expect(Object.fromEntries(h.tensors.map((t) => [t.name, t.dataOffsets]))).toEqual({
      c: [0, 24],
      a: [24, 40],
      s: [40, 44],
      b: [44, 50],
      e: [50, 50],
    });
  });

  it("rejects each broken rule with its own code", () => {
    const t = (dtype: string, shape: number[], offs: number[]) => ({ dtype, shape, data_offsets: offs });
    expect(() => validate(new Uint8Array(5))).toThrow(code("TOO_SMALL"));
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    expect(() => validate(huge)).toThrow(code("HEADER_TOO_LARGE"));
    new DataView(huge.buffer).setBigUint64(0, 1000n, true);
    expect(() => validate(huge)).toThrow(code("HEADER_OUT_OF_BOUNDS"));
    expect(() => validate(fileWith({ a: t("F32", [1], [0, 4]) }, 4), 8)).toThrow(code("HEADER_TOO_LARGE"));
    expect(() => validate(fileWith([1, 2], 0))).toThrow(code("HEADER_NOT_JSON"));
    const notJson = fileWith({}, 0);
    notJson[9] = 0x7b; // "{{"
    expect(() => validate(notJson)).toThrow(code("HEADER_NOT_JSON"));
    expect(() => validate(fileWith({ a: t("F33", [1], [0, 4]) }, 4))).toThrow(code("UNKNOWN_DTYPE"));
    expect(() => validate(fileWith({ a: t("F32", [-1], [0, 4]) }, 4))).toThrow(code("BAD_SHAPE"));
    expect(() => validate(fileWith({ a: t("F32", [1.5], [0, 4]) }, 4))).toThrow(code("BAD_SHAPE"));
    expect(() => validate(fileWith({ a: t("F32", [1], [4, 0]) }, 4))).toThrow(code("BAD_OFFSETS"));
    expect(() => validate(fileWith({ a: t("F32", [1], [0, 8]) }, 4))).toThrow(code("BAD_OFFSETS"));
    expect(() => validate(fileWith({ a: t("F32", [2], [0, 4]) }, 4))).toThrow(code("SIZE_MISMATCH"));
    expect(() => validate(fileWith({ a: t("F4", [3], [0, 1]) }, 1))).toThrow(code("SIZE_MISMATCH"));
    expect(() => validate(fileWith({ a: t("U8", [2 ** 52, 2 ** 52], [0, 4]) }, 4))).toThrow(code("SIZE_MISMATCH"));
    expect(() => validate(fileWith({ a: t("F32", [1], [0, 4]), b: t("F32", [1], [2, 6]) }, 6))).toThrow(code("OVERLAP"));
    expect(() => validate(fileWith({ a: t("F32", [1], [0, 4]), b: t("F32", [1], [8, 12]) }, 12))).toThrow(code("HOLE"));
    expect(() => validate(fileWith({ a: t("F32", [1], [4, 8]) }, 8))).toThrow(code("HOLE"));
    expect(() => validate(fileWith({ a: t("F32", [1], [0, 4]) }, 6))).toThrow(code("TRAILING_BYTES"));
    expect(() => validate(fileWith({ __metadata__: { a: 1 } }, 0))).toThrow(code("HEADER_INVALID"));
    expect(() => validate(fileWith({ a: 3 }, 0))).toThrow(code("HEADER_INVALID"));
  });

  const dtypes = Object.keys(DTYPE_BITS);
  const entry = fc.record({
    dtype: fc.oneof(fc.constantFrom(...dtypes), fc.string({ maxLength: 4 })),
    shape: fc.array(fc.oneof(fc.nat(6), fc.integer({ min: -3, max: 2 ** 40 })), { maxLength: 3 }),
    data_offsets: fc.array(fc.oneof(fc.nat(64), fc.integer()), { minLength: 0, maxLength: 3 }),
  });
  const header = fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(entry, fc.anything()), { maxKeys: 5 });

  test.prop([header, fc.nat(80)], { numRuns: 3000 })("fuzzed headers are either valid files or typed errors", (h, dataBytes) => {
    const file = fileWith(h, dataBytes);
    let parsed;
    try {
      parsed = validate(file);
    } catch (e) {
      expect(e).toMatchObject({ name: "SafetensorsError" });
      return;
    }
    // Accepted: every tensor lies inside the file and the spans tile the data section.
    let cursor = parsed.dataStart;
    for (const t of parsed.tensors) {
      expect(t.fileOffset).toBe(cursor);
      expect(t.byteLength * 8).toBe(t.numel * DTYPE_BITS[t.dtype]);
      cursor += t.byteLength;
    }
    expect(cursor).toBe(file.byteLength);
  });

  test.prop([fc.uint8Array({ maxLength: 200 })], { numRuns: 3000 })("random bytes never escape as untyped errors", (bytes) => {
    try {
      validate(bytes);
    } catch (e) {
      expect(e).toMatchObject({ name: "SafetensorsError" });
    }
  });

  test.prop([fc.nat(40), fc.integer({ min: 0, max: 255 })], { numRuns: 1000 })("a byte flipped in a valid file is caught or harmless", (pos, val) => {
    const { header, fileSize } = planLayout(
      [
        { name: "w", dtype: "BF16", shape: [2, 3] },
        { name: "b", dtype: "F32", shape: [3] },
      ],
      undefined,
    );
    const file = new Uint8Array(fileSize);
    file.set(header);
    file[Math.min(pos, header.byteLength - 1)] = val;
    try {
      const h = validate(file);
      expect(h.dataStart + h.tensors.reduce((a, t) => a + t.byteLength, 0)).toBe(file.byteLength);
    } catch (e) {
      expect(e).toMatchObject({ name: "SafetensorsError" });
    }
  });
});
