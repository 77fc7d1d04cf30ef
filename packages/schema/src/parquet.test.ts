import { existsSync } from "node:fs";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { readParquet, writeParquet } from "./parquet.js";

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const message = fc.record({ role: fc.constantFrom("user", "assistant"), content: fc.string({ unit: "grapheme", maxLength: 20 }) });
const dialogue = fc.record(
  {
    id: fc.string({ minLength: 1, maxLength: 8 }),
    source: fc.string({ maxLength: 6 }),
    messages: fc.array(message, { maxLength: 4 }),
    meta: fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean())),
  },
  { requiredKeys: ["id", "messages"] },
);

describe("parquet", () => {
  test.prop([fc.array(dialogue, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 15 })], { numRuns: 25 })(
    "write then read returns the same records (nested fields as JSON, optional fields dropped when absent)",
    async (records, rowGroupSize) => {
      const dir = await tempDir();
      const file = path.join(dir, "d.parquet");
      const { count } = await writeParquet(file, records, { rowGroupSize, columns: ["id", "source", "messages", "meta"] });
      expect(count).toBe(records.length);
      const got = await all(readParquet(file));
      expect(got.map((r) => r.record)).toEqual(records);
      expect(got.map((r) => r.line)).toEqual(records.map((_, i) => i + 1));
    },
  );

  it("validates rows by kind and names the row and field", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "p.parquet");
    await writeParquet(file, [
      { id: "a", text: "x" },
      { id: "", text: "y" },
    ]);
    await expect(all(readParquet(file, { kind: "doc" }))).rejects.toThrow(/p\.parquet:2 field id/);
    const ok = await all(readParquet(file, { kind: "doc", onInvalid: "skip" }));
    expect(ok.map((r) => r.record.id)).toEqual(["a"]);
  });

  it("refuses a field that appears after the first row group, leaving no file", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "late.parquet");
    await expect(writeParquet(file, [{ a: "1" }, { a: "2", b: "3" }], { rowGroupSize: 1 })).rejects.toThrow(/field "b"/);
    expect(existsSync(file)).toBe(false);
  });
});

describe("readRecords reads Parquet like any other record file", () => {
  it("validates each row, names file and row on a bad one, and canonical conversion works on Parquet", async () => {
    const { readRecords } = await import("./io/read-records.js");
    const { canonicalConverter } = await import("./convert/registry.js");
    const dir = await tempDir();
    const f = path.join(dir, "d.parquet");
    const rows = [0, 1, 2].map((i) => ({ id: `d${i}`, messages: [{ role: "user", content: `问${i}` }, { role: "assistant", content: `答${i}` }] }));
    await writeParquet(f, rows);
    expect((await all(readRecords(f, { kind: "dialogue" }))).map((r) => [r.record.id, r.line])).toEqual([["d0", 1], ["d1", 2], ["d2", 3]]);
    expect((await all(canonicalConverter("dialogue").from(f))).map((r) => (r as { id: string }).id)).toEqual(["d0", "d1", "d2"]);
    const bad = path.join(dir, "bad.parquet");
    await writeParquet(bad, [rows[0]!, { id: "x", messages: "not a list" }]);
    await expect(all(readRecords(bad, { kind: "dialogue" }))).rejects.toThrow(/bad\.parquet:2/);
  });
});
