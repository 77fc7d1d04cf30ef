import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { samplePath, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const jsonl = async (f: string) => (await readFile(f, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe("sfmed convert", () => {
  it("converts the Toyhom UTF-8 CSV and GB18030 block samples into one Dialogue JSONL", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "toyhom.jsonl");
    const r = await capture(["convert", "--from", "toyhom", samplePath("toyhom/样例_内科5000-6000.utf8.csv"), samplePath("toyhom/内科.txt"), "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("420 dialogue records from 2 inputs");
    const rows = await jsonl(out);
    expect(rows).toHaveLength(420);
    expect(rows[300]).toMatchObject({ source: "toyhom", meta: { department: "内科" } });
    expect(new Set(rows.map((x) => x.id)).size).toBe(420);
  });

  it("exports to alpaca and sharegpt, and writes Parquet", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "a.json");
    expect((await capture(["convert", "--from", "huatuo26m", samplePath("huatuo26m_test/huatuo26M_test.json"), "--to", "alpaca", "-o", a])).code).toBe(0);
    const rows = JSON.parse(await readFile(a, "utf8")) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(300);
    expect(Object.keys(rows[0]!).sort()).toEqual(["id", "input", "instruction", "output", "source"]);
    const s = path.join(dir, "s.jsonl");
    expect((await capture(["convert", "--from", "medicalgpt-reward", samplePath("medicalgpt/test.json"), "--to", "sharegpt", "-o", s])).code).toBe(0);
    expect((await jsonl(s))[0]).toMatchObject({ conversations: [{ from: "human" }], chosen: { from: "gpt" }, rejected: { from: "gpt" } });
    const pq = path.join(dir, "c.parquet");
    expect((await capture(["convert", "--from", "cmmlu", samplePath("cmmlu"), "-o", pq])).code).toBe(0);
    const back = path.join(dir, "back.jsonl");
    expect((await capture(["validate", "--schema", "choice", pq, "-o", back])).code).toBe(0);
    expect(await jsonl(back)).toHaveLength(225);
  });

  it("stops at a bad row naming file and line, or sets it aside with --on-invalid skip", async () => {
    const dir = await tempDir();
    const csv = path.join(dir, "val.csv");
    await writeFile(csv, "Question,Options,Answer,Explanation\n题一,A 甲\\nB 乙,A,\n题二,A 甲\\nB 乙,nan,\n题三,A 甲\\nB 乙,AB,\n");
    const out = path.join(dir, "q.jsonl");
    const bad = await capture(["convert", "--from", "cmexam", csv, "-o", out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(new RegExp(`^sfmed: ValidationError: ${csv.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3 field Answer`));
    const rej = path.join(dir, "rej.jsonl");
    const ok = await capture(["convert", "--from", "cmexam", csv, "-o", out, "--on-invalid", "skip", "--rejects", rej]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("2 choice records from 1 input → " + out + "; 1 rejected");
    expect((await jsonl(out)).map((q) => q.answer)).toEqual([["A"], ["A", "B"]]);
    expect(await jsonl(rej)).toMatchObject([{ line: 3, field: "Answer" }]);
  });

  it("re-exports canonical records named by kind", async () => {
    const dir = await tempDir();
    const canon = path.join(dir, "d.jsonl");
    expect((await capture(["convert", "--from", "cmtmedqa", samplePath("cmtmedqa/CMtMedQA_test.json"), "-o", canon])).code).toBe(0);
    const sg = path.join(dir, "sg.jsonl");
    const r = await capture(["--quiet", "convert", "--from", "dialogue", canon, "--to", "sharegpt", "-o", sg]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const rows = await jsonl(sg);
    expect(rows).toHaveLength(72);
    expect((rows[0]!.conversations as unknown[]).length).toBeGreaterThan(2);
  });

  it("rejects unknown formats as usage errors", async () => {
    const r = await capture(["convert", "--from", "nope", "x", "-o", "y.jsonl"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown format "nope"; known: alpaca, sharegpt/);
    const t = await capture(["convert", "--from", "cmexam", "--to", "xml", "x", "-o", "y.jsonl"]);
    expect(t.code).toBe(2);
  });

  it("--medical-only keeps C-Eval's medical subjects and is a usage error for converters without a list", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "ceval.jsonl");
    const r = await capture(["convert", "--from", "ceval", "--medical-only", samplePath("ceval"), "-o", out]);
    expect(r.code).toBe(0);
    const subjects = new Set((await jsonl(out)).map((q) => q.subject));
    expect(subjects).toEqual(new Set(["basic_medicine", "clinical_medicine", "physician"]));
    const bad = await capture(["convert", "--from", "toyhom", "--medical-only", samplePath("toyhom/内科.txt"), "-o", out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--medical-only: "toyhom" has no list of medical subjects \(only cmmlu, ceval, cmb-exam\)/);
  });
});
