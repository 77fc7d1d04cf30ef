import { readFile, writeFile } from "node:fs/promises";
import { gzipSync, gunzipSync } from "node:zlib";
import path from "node:path";
import { reservoirSample } from "@sfmed/eval-metrics";
import { readRecords, recordsOnly } from "@sfmed/schema";
import { readSample, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const jsonl = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join("\n") + "\n";

async function records(file: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const r of recordsOnly(readRecords(file))) out.push(r);
  return out;
}

/** 50 real SFT dialogues (MedicalGPT sample), with ids. */
function sft(): Array<{ id: string; conversations: unknown }> {
  return readSample("medicalgpt/medical_sft_1K_format.jsonl")
    .split("\n")
    .filter(Boolean)
    .slice(0, 50)
    .map((l, i) => ({ id: `s${i}`, ...(JSON.parse(l) as { conversations: unknown }) }));
}

describe("sfmed sample", () => {
  it("keeps N records, the library's sample for the seed, in input order; the same seed gives the same file", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "sft.jsonl");
    const recs = sft();
    await writeFile(input, jsonl(recs));
    const out = path.join(dir, "a.jsonl");
    const r = await capture(["sample", input, "-n", "12", "--seed", "7", "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("sample: 12 of 50 records (seed 7)");
    const got = (await records(out)) as Array<{ id: string }>;
    expect(got).toEqual((await reservoirSample(recs, 12, { seed: 7 })).items);
    const positions = got.map((g) => Number(g.id.slice(1)));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    // Reproducible; another seed draws another sample.
    const again = path.join(dir, "b.jsonl");
    expect((await capture(["-q", "sample", input, "-n", "12", "--seed", "7", "-o", again])).code).toBe(0);
    expect(await readFile(again, "utf8")).toBe(await readFile(out, "utf8"));
    const other = path.join(dir, "c.jsonl");
    expect((await capture(["-q", "sample", input, "-n", "12", "--seed", "8", "-o", other])).code).toBe(0);
    expect(await readFile(other, "utf8")).not.toBe(await readFile(out, "utf8"));
    // More than there are: everything, unchanged.
    const all = path.join(dir, "all.jsonl");
    expect((await capture(["-q", "sample", input, "-n", "500", "-o", all])).code).toBe(0);
    expect(await records(all)).toEqual(recs);
  });

  it("writes the input's format: gzip JSONL, JSONL under a .json name, JSON arrays, CSV and TSV", async () => {
    const dir = await tempDir();
    const recs = sft().slice(0, 20);
    const flat = recs.map((r) => ({ id: r.id, question: `问题${r.id}`, answer: `回答，含逗号,与"引号"\t和制表符` }));

    const gz = path.join(dir, "in.jsonl.gz");
    await writeFile(gz, gzipSync(jsonl(recs)));
    const gzOut = path.join(dir, "out.jsonl.gz");
    expect((await capture(["-q", "sample", gz, "-n", "5", "--seed", "1", "-o", gzOut])).code).toBe(0);
    expect(gunzipSync(await readFile(gzOut)).toString("utf8").trim().split("\n")).toHaveLength(5);
    const expected = (await reservoirSample(recs, 5, { seed: 1 })).items;
    expect(await records(gzOut)).toEqual(expected);

    // MedicalGPT-style JSONL named .json stays JSONL.
    const medJson = path.join(dir, "med.json");
    await writeFile(medJson, jsonl(recs));
    const medOut = path.join(dir, "med-sample.json");
    expect((await capture(["-q", "sample", medJson, "-n", "5", "--seed", "1", "-o", medOut])).code).toBe(0);
    expect((await readFile(medOut, "utf8")).startsWith("{")).toBe(true);
    expect(await records(medOut)).toEqual(expected);

    const arr = path.join(dir, "arr.json");
    await writeFile(arr, JSON.stringify(recs));
    const arrOut = path.join(dir, "arr-sample.json");
    expect((await capture(["-q", "sample", arr, "-n", "5", "--seed", "1", "-o", arrOut])).code).toBe(0);
    expect(JSON.parse(await readFile(arrOut, "utf8"))).toEqual(expected);

    for (const [ext, sep] of [["csv", ","], ["tsv", "\t"]] as const) {
      const file = path.join(dir, `flat.${ext}`);
      const cell = (v: string) => (v.includes(sep) || v.includes('"') ? `"${v.replace(/"/g, '""')}"` : v);
      await writeFile(file, ["id,question,answer".replace(/,/g, sep), ...flat.map((r) => [r.id, r.question, r.answer].map(cell).join(sep))].join("\n") + "\n");
      const out = path.join(dir, `flat-sample.${ext}`);
      const r = await capture(["-q", "sample", file, "-n", "4", "--seed", "3", "-o", out]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect((await readFile(out, "utf8")).split("\n")[0]).toBe(["id", "question", "answer"].join(sep));
      expect(await records(out)).toEqual((await reservoirSample(flat, 4, { seed: 3 })).items);
    }
  });

  it("rejects an output of another format and bad numbers with exit code 2", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "in.jsonl");
    await writeFile(input, jsonl(sft().slice(0, 3)));
    const wrong = await capture(["sample", input, "-n", "2", "-o", path.join(dir, "out.csv")]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("-o must name a file in the input's format (jsonl)");
    const neg = await capture(["sample", input, "-n", "-1", "-o", path.join(dir, "o.jsonl")]);
    expect(neg.code).toBe(2);
    expect(neg.stderr).toContain("-n must be an integer ≥ 0");
    const seed = await capture(["sample", input, "-n", "1", "--seed", "x", "-o", path.join(dir, "o.jsonl")]);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toContain("--seed must be an integer ≥ 0");
    // The output may not overwrite the input.
    const before = await readFile(input, "utf8");
    const same = await capture(["sample", input, "-n", "1", "-o", input]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain("-o and <in> name the same file");
    expect(await readFile(input, "utf8")).toBe(before);
    const missing = await capture(["sample", path.join(dir, "nope.jsonl"), "-n", "1", "-o", path.join(dir, "o.jsonl")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no such file");
  });
});
