import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { PrivacyProbeError } from "../errors.js";
import { redactPiiFile, scanPiiFile } from "./pii-file.js";

const docs = [
  { id: "a", text: "患者身份证11010519491231002X，复诊请致电13800138000。" },
  { id: "b", text: "阿莫西林 500mg，每日3次，血糖 6.1mmol/L，2023-05-01 复查。" },
  { id: "c", messages: [{ role: "user", content: "我的邮箱 li@example.org" }] },
];

describe("PII file scan and redact", () => {
  it("scans JSONL string leaves, names fields, and masks previews", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "docs.jsonl");
    await writeFile(file, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
    const seen: number[] = [];
    const report = await scanPiiFile({ file, onProgress: (p) => seen.push(p.lines), progressEvery: 1 });
    expect(report).toMatchObject({ format: "jsonl", lines: 3, linesWithPii: 2, total: 3 });
    expect(report.counts).toMatchObject({ "resident-id": 1, mobile: 1, email: 1, landline: 0, "bank-card": 0 });
    expect(report.findings.map((f) => [f.line, f.field, f.kind])).toEqual([
      [1, "text", "resident-id"],
      [1, "text", "mobile"],
      [3, "messages.0.content", "email"],
    ]);
    expect(JSON.stringify(report)).not.toContain("11010519491231002X");
    expect(report.findings[0]!.preview).toBe("11**************2X");
    expect(seen.at(-1)).toBe(3);
  });

  it("redacts JSONL keeping the structure, and drops lines in drop mode", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "docs.jsonl");
    await writeFile(file, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
    const out = path.join(dir, "out", "clean.jsonl");
    const r = await redactPiiFile({ file, output: out, mode: "tag" });
    expect(r.linesWritten).toBe(3);
    const lines = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ id: "a", text: "患者身份证[身份证号]，复诊请致电[手机号]。" });
    expect(lines[1]).toEqual(docs[1]);
    expect(lines[2]).toEqual({ id: "c", messages: [{ role: "user", content: "我的邮箱 [电子邮箱]" }] });

    const dropped = path.join(dir, "kept.jsonl");
    const d = await redactPiiFile({ file, output: dropped, action: "drop" });
    expect(d.linesWritten).toBe(1);
    expect(JSON.parse((await readFile(dropped, "utf8")).trim())).toEqual(docs[1]);
  });

  it("redacts plain text in hash mode consistently across lines", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "corpus.txt");
    await writeFile(file, "电话13800138000\r\n无个人信息\n再次：138-0013-8000");
    const out = path.join(dir, "corpus.clean.txt");
    await redactPiiFile({ file, output: out, mode: "hash", salt: "pepper" });
    const [l1, l2, l3] = (await readFile(out, "utf8")).split("\n");
    const token = l1!.slice(2);
    expect(token).toMatch(/^\[手机号:[0-9a-f]{12}\]$/);
    expect(l2).toBe("无个人信息");
    expect(l3).toBe(`再次：${token}`);
  });

  it("names file and line of a broken JSONL record and leaves no output behind", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "bad.jsonl");
    await writeFile(file, '{"id":"a","text":"x"}\n{"id": oops}\n');
    const out = path.join(dir, "out.jsonl");
    const err = await redactPiiFile({ file, output: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrivacyProbeError);
    expect((err as PrivacyProbeError).line).toBe(2);
    expect((err as Error).message).toContain(`${file}:2`);
    await expect(readFile(out)).rejects.toThrow();
  });
});
