import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const lines = [
  { id: "1", text: "患者身份证号11010519491231002X，手机13800138000。" },
  { id: "2", text: "阿司匹林100mg每日一次，住院号13800138000，血钾3.5mmol/L。" },
];

describe("sfmed pii", () => {
  it("scan prints a masked JSON report and --fail-on-find sets the exit code", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "docs.jsonl");
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const r = await capture(["-q", "pii", "scan", file]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { total: number; counts: Record<string, number>; findings: { line: number; field: string; preview: string }[] };
    expect(report.total).toBe(2);
    expect(report.counts).toMatchObject({ "resident-id": 1, mobile: 1 });
    expect(report.findings.map((f) => [f.line, f.field])).toEqual([
      [1, "text"],
      [1, "text"],
    ]);
    expect(r.stdout).not.toContain("11010519491231002X");
    const f = await capture(["-q", "pii", "scan", file, "--fail-on-find", "--report", path.join(dir, "r.json")]);
    expect(f.code).toBe(1);
    expect(JSON.parse(await readFile(path.join(dir, "r.json"), "utf8"))).toMatchObject({ total: 2 });
  });

  it("redact writes tagged, hashed or filtered copies", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "docs.jsonl");
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const out = path.join(dir, "clean.jsonl");
    const r = await capture(["-q", "pii", "redact", file, "-o", out, "--report", path.join(dir, "report.json")]);
    expect(r.code).toBe(0);
    const [a, b] = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { text: string });
    expect(a!.text).toBe("患者身份证号[身份证号]，手机[手机号]。");
    expect(b!.text).toBe(lines[1]!.text);

    const noSalt = await capture(["-q", "pii", "redact", file, "-o", out, "--mode", "hash", "--salt-env", "SFMED_TEST_NO_SUCH_SALT"]);
    expect(noSalt.code).toBe(2);
    process.env.SFMED_TEST_SALT = "pepper";
    try {
      const h = await capture(["-q", "pii", "redact", file, "-o", out, "--mode", "hash", "--salt-env", "SFMED_TEST_SALT"]);
      expect(h.code).toBe(0);
      expect(await readFile(out, "utf8")).toMatch(/\[身份证号:[0-9a-f]{12}\]/);
    } finally {
      delete process.env.SFMED_TEST_SALT;
    }
    const kept = path.join(dir, "kept.jsonl");
    await capture(["-q", "pii", "redact", file, "-o", kept, "--action", "drop"]);
    expect((await readFile(kept, "utf8")).trim().split("\n")).toHaveLength(1);
  });
});
