import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { ChoiceQuestion, Dialogue } from "../records.js";
import { scanCsv, writeCsv } from "./csv.js";
import { splitJsonArray, writeJsonArray } from "./json-array.js";
import { writeJsonl } from "./jsonl.js";
import { readRecords, type LocatedRecord } from "./read-records.js";
import { isBadRow } from "./rows.js";
import { writeRecords } from "./write-records.js";

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
async function* from<T>(xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}
// JSON values that survive a JSON round trip unchanged (no -0, no undefined).
const jsonRecord = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).map((o) => JSON.parse(JSON.stringify(o)) as unknown);

describe("JSONL / JSON / CSV readers and writers", () => {
  test.prop([fc.array(jsonRecord, { maxLength: 30 }), fc.constantFrom("a.jsonl", "a.jsonl.gz", "a.json", "a.json.gz")], { numRuns: 40 })(
    "write then read gives the same records, with line numbers",
    async (records, name) => {
      const dir = await tempDir();
      const file = path.join(dir, name);
      const { count } = await writeRecords(file, from(records));
      expect(count).toBe(records.length);
      const got = await all(readRecords(file));
      expect(got.map((r) => r.record)).toEqual(records);
      // JSONL: record i sits on line i+1; JSON arrays are written one element per line after "[".
      expect(got.map((r) => r.line)).toEqual(records.map((_, i) => i + (name.includes("jsonl") ? 1 : 2)));
      expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    },
  );

  test.prop([fc.array(jsonRecord, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 8 })])(
    "splitJsonArray finds every element of a pretty-printed array, with its start line, across chunk cuts",
    async (records, cuts) => {
      const text = JSON.stringify(records, null, 2);
      const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const parts: string[] = [];
      let prev = 0;
      for (const c of at) parts.push(text.slice(prev, (prev = c)));
      parts.push(text.slice(prev));
      const els = await all(splitJsonArray(from(parts)));
      expect(els.map((e) => JSON.parse(e.text) as unknown)).toEqual(records);
      const lines = text.split("\n");
      for (const e of els) expect(lines[e.line - 1]!.trim().length).toBeGreaterThan(0);
    },
  );

  it("rejects broken JSON array structure with the line", async () => {
    await expect(all(splitJsonArray(from(["[\n{\"a\":1}\n{\"b\":2}]"]), "x.json"))).rejects.toThrow(/x\.json:3.*missing ','/);
    await expect(all(splitJsonArray(from(["[1,\n2,\n"]), "x.json"))).rejects.toThrow(/unexpected end/);
    await expect(all(splitJsonArray(from(["{\"a\":1}"]), "x.json"))).rejects.toThrow(/expected a JSON array/);
    await expect(all(splitJsonArray(from(["[1,,2]"]), "x.json"))).rejects.toThrow(/empty array element/);
    await expect(all(splitJsonArray(from(["[1,\n2,\n]"]), "x.json"))).rejects.toThrow(/x\.json:3.*trailing ','/);
    expect(await all(splitJsonArray(from([" [ ] \n"])))).toEqual([]);
  });

  const cell = fc.string({ unit: "grapheme", maxLength: 12 });
  test.prop([fc.array(fc.tuple(cell, cell, cell), { maxLength: 25 })], { numRuns: 40 })(
    "CSV round trip keeps quotes, commas and newlines, and reports each row's start line",
    async (rows) => {
      const dir = await tempDir();
      const file = path.join(dir, "t.csv");
      const records = rows.map(([a, b, c]) => ({ a, b, c }));
      await writeCsv(file, records, { columns: ["a", "b", "c"] });
      const got = await all(scanCsv(file));
      expect(got.filter(isBadRow)).toEqual([]);
      expect(got.map((r) => (r as { value: unknown }).value)).toEqual(records);
      let line = 2;
      const expected = records.map((r) => {
        const at = line;
        line += 1 + (r.a + r.b + r.c).split("\n").length - 1;
        return at;
      });
      expect(got.map((r) => r.line)).toEqual(expected);
    },
  );

  it("reads a UTF-8 BOM CSV and flags rows with the wrong cell count", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "b.csv");
    await writeFile(file, "\ufeffq,a\n问,答\nonly-one\n\"多\n行\",x\n");
    const got = await all(scanCsv(file));
    expect(got[0]).toMatchObject({ line: 2, value: { q: "问", a: "答" } });
    expect(isBadRow(got[1]!) && got[1].error.message).toMatch(/b\.csv:3: expected 2 cells/);
    expect(got[2]).toMatchObject({ line: 4, value: { q: "多\n行", a: "x" } });
  });

  test.prop([fc.array(fc.boolean(), { minLength: 1, maxLength: 40 })], { numRuns: 30 })(
    "onInvalid skip: valid + rejected = input, each reject names its line and reason",
    async (goodness) => {
      const dir = await tempDir();
      const file = path.join(dir, "d.jsonl");
      const lines = goodness.map((ok, i) =>
        ok ? JSON.stringify({ id: `d${i}`, text: `t${i}` }) : i % 2 ? `{"id": "d${i}", "text": ` : JSON.stringify({ id: `d${i}`, text: 7 }),
      );
      await writeFile(file, lines.join("\n") + "\n");
      const rejects = path.join(dir, "r.jsonl");
      const got = await all(readRecords(file, { kind: "doc", onInvalid: "skip", rejects }));
      const rej = (await readFile(rejects, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { line: number; reason: string; field?: string });
      expect(got.length + rej.length).toBe(goodness.length);
      expect(got.map((r) => r.line)).toEqual(goodness.flatMap((ok, i) => (ok ? [i + 1] : [])));
      expect(rej.map((r) => r.line)).toEqual(goodness.flatMap((ok, i) => (ok ? [] : [i + 1])));
      for (const r of rej) expect(r.reason.length).toBeGreaterThan(0);
      for (const r of rej.filter((x) => x.line % 2 === 1)) expect(r.field).toBe("text");

      const firstBad = goodness.indexOf(false);
      if (firstBad >= 0) {
        await expect(all(readRecords(file, { kind: "doc" }))).rejects.toThrow(new RegExp(`d\\.jsonl:${firstBad + 1}`));
      }
    },
  );

  it("names file, line and field path of an invalid record", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "dlg.jsonl");
    const ok = { id: "a", messages: [{ role: "user", content: "q" }, { role: "assistant", content: "a" }] };
    const bad = { id: "b", messages: [{ role: "user", content: "q" }, { role: "robot", content: "a" }] };
    await writeFile(file, [ok, ok, bad].map((r) => JSON.stringify(r)).join("\n"));
    const err = await all(readRecords(file, { kind: "dialogue" })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "ValidationError", line: 3, field: "messages[1].role" });
    expect(String((err as Error).message)).toContain("dlg.jsonl:3 field messages[1].role");
  });

  it("reads gzip JSONL whatever the name, and a JSONL file named .json", async () => {
    const dir = await tempDir();
    const gz = path.join(dir, "x.jsonl.gz");
    await writeFile(gz, gzipSync('{"a":1}\n\n{"a":2}\n'));
    expect((await all(readRecords(gz))).map((r) => [r.line, r.record])).toEqual([[1, { a: 1 }], [3, { a: 2 }]]);
    const cut = path.join(dir, "cut.jsonl.gz");
    const full = gzipSync(Array.from({ length: 5000 }, (_, i) => JSON.stringify({ a: i * 7919 })).join("\n"));
    await writeFile(cut, full.subarray(0, full.length >> 1));
    await expect(all(readRecords(cut))).rejects.toThrow(/cut\.jsonl\.gz: cannot decompress gzip data/);
    const j = path.join(dir, "y.json");
    await writeFile(j, '{"a":1}\n{"a":2}\n');
    expect((await all(readRecords(j))).length).toBe(2);
  });

  it("types records by the kind asked for (checked by tsc)", () => {
    expectTypeOf(readRecords("x.jsonl", { kind: "dialogue" })).toMatchTypeOf<AsyncIterable<LocatedRecord<Dialogue>>>();
    expectTypeOf(readRecords("x.jsonl", { kind: "choice" })).toMatchTypeOf<AsyncIterable<LocatedRecord<ChoiceQuestion>>>();
    expectTypeOf(readRecords("x.jsonl")).toMatchTypeOf<AsyncIterable<LocatedRecord<unknown>>>();
    expectTypeOf(readRecords("x.jsonl", { kind: "dialogue" })).not.toMatchTypeOf<AsyncIterable<LocatedRecord<ChoiceQuestion>>>();
  });

  it("writes atomically: a failing source leaves the old file and no temp file", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "out.jsonl");
    await writeJsonl(file, [{ old: true }]);
    async function* failing(): AsyncGenerator<unknown> {
      yield { n: 1 };
      throw new Error("boom");
    }
    await expect(writeJsonl(file, failing())).rejects.toThrow("boom");
    await expect(writeJsonArray(path.join(dir, "new.json"), failing())).rejects.toThrow("boom");
    expect(await readFile(file, "utf8")).toBe('{"old":true}\n');
    expect(existsSync(path.join(dir, "new.json"))).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(["out.jsonl"]);
  });
});
