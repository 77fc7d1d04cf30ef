import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
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

describe("PII files in any format the schema readers know", () => {
  const record = { id: "g", text: "联系电话13800138000，身份证11010519491231002X" };

  it("reads gzip as JSONL and writes gzip back (the name says .gz)", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "docs.jsonl.gz");
    await writeFile(file, gzipSync(JSON.stringify(record) + "\n"));
    expect((await scanPiiFile({ file })).total).toBe(2);
    const out = path.join(dir, "clean.jsonl.gz");
    await redactPiiFile({ file, output: out });
    const back = JSON.parse(gunzipSync(await readFile(out)).toString("utf8")) as { text: string };
    expect(back.text).toBe("联系电话[手机号]，身份证[身份证号]");
  });

  it("decodes GB18030 text instead of turning Chinese into U+FFFD", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "corpus.txt");
    const text = "患者王某，电话13800138000，住址北京市海淀区。";
    await writeFile(file, iconvGb18030(text + "\n"));
    const out = path.join(dir, "clean.txt");
    const r = await redactPiiFile({ file, output: out });
    expect(r.total).toBe(1);
    const written = await readFile(out, "utf8");
    expect(written).toBe("患者王某，电话[手机号]，住址北京市海淀区。\n");
    expect(written).not.toContain("\uFFFD");
  });

  it("stops at invalid UTF-8 naming line and byte instead of replacing it", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "bad.txt");
    await writeFile(file, Buffer.concat([Buffer.from("好\n第二行", "utf8"), Buffer.from([0xff]), Buffer.from("\n")]));
    await expect(scanPiiFile({ file, encoding: "utf-8" })).rejects.toThrow(`${file}: invalid UTF-8 at line 2, byte ${Buffer.byteLength("好\n第二行")}`);
  });

  it("scans object keys and JSON numbers, and states the number limit in the report", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "odd.jsonl");
    await writeFile(file, JSON.stringify({ id: "k", contacts: { "13800138000": "手机", phone: 13900139000 } }) + "\n");
    const r = await scanPiiFile({ file });
    expect(r.findings.map((f) => f.field)).toEqual(["contacts.13800138000#key", "contacts.phone"]);
    expect(r.limits).toContain("2^53");
    const out = path.join(dir, "clean.jsonl");
    await redactPiiFile({ file, output: out });
    expect(JSON.parse(await readFile(out, "utf8"))).toEqual({ id: "k", contacts: { "[手机号]": "手机", phone: "[手机号]" } });
  });

  it("reads and writes Parquet records", async () => {
    const { writeParquet, readParquet } = await import("@sfmed/schema/parquet");
    const dir = await tempDir();
    const file = path.join(dir, "docs.parquet");
    await writeParquet(file, [record, { id: "h", text: "无" }]);
    expect((await scanPiiFile({ file })).total).toBe(2);
    const out = path.join(dir, "clean.parquet");
    const r = await redactPiiFile({ file, output: out, action: "drop" });
    expect(r.linesWritten).toBe(1);
    const back: unknown[] = [];
    for await (const x of readParquet(out)) back.push(x.record);
    expect(back).toEqual([{ id: "h", text: "无" }]);
  });
});

/** GB18030 bytes of `s` (Node has no GB18030 encoder; the test decodes the sample instead). */
function iconvGb18030(s: string): Buffer {
  // Build by searching each character in a decoded table of two-byte GB codes (enough for common CJK text).
  const out: number[] = [];
  const dec = new TextDecoder("gb18030");
  for (const ch of s) {
    if (ch.charCodeAt(0) < 0x80) {
      out.push(ch.charCodeAt(0));
      continue;
    }
    let found = false;
    for (let a = 0x81; a <= 0xfe && !found; a++) {
      for (let b = 0x40; b <= 0xfe && !found; b++) {
        if (b === 0x7f) continue;
        if (dec.decode(Uint8Array.of(a, b)) === ch) {
          out.push(a, b);
          found = true;
        }
      }
    }
    if (!found) throw new Error(`no two-byte GB18030 code for ${ch}`);
  }
  return Buffer.from(out);
}
