import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const jsonl = async (f: string) => (await readFile(f, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

const dlg = (i: number) => JSON.stringify({ id: `d${i}`, messages: [{ role: "user", content: `问${i}` }, { role: "assistant", content: `答${i}` }] });

describe("sfmed validate", () => {
  it("exits non-zero naming line 3 when the third line is broken; with skip writes the valid records and the reject", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "in.jsonl");
    const broken = '{"id": "d3", "messages": [{"role": "user", "content": "问3"}';
    await writeFile(file, [dlg(1), dlg(2), broken, dlg(4), dlg(5)].join("\n") + "\n");

    const failed = await capture(["validate", "--schema", "dialogue", file]);
    expect(failed.code).not.toBe(0);
    const lines = failed.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${file}:3`);
    expect(lines[0]).toMatch(/ParseError: .*invalid JSON/);

    const out = path.join(dir, "valid.jsonl");
    const rej = path.join(dir, "rejects.jsonl");
    const ok = await capture(["validate", "--schema", "dialogue", file, "--on-invalid", "skip", "--rejects", rej, "-o", out]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("4 valid dialogue records, 1 rejected");
    expect((await jsonl(out)).map((r) => r.id)).toEqual(["d1", "d2", "d4", "d5"]);
    const rejects = await jsonl(rej);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]).toMatchObject({ file, line: 3, code: "PARSE_ERROR", raw: broken });
    expect(String(rejects[0]!.reason)).toMatch(/invalid JSON/);
  });

  it("names the field of a record that parses but fails the schema, and counts valid + rejected = input", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "pairs.jsonl");
    const good = { id: "p", prompt: [{ role: "user", content: "q" }], chosen: "a", rejected: "b" };
    await writeFile(file, [good, { ...good, id: "" }, { ...good, chosen: 3 }].map((r) => JSON.stringify(r)).join("\n"));
    const r = await capture(["validate", "--schema", "pair", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:2 field id: id must be a non-empty string`);
    const rej = path.join(dir, "r.jsonl");
    const s = await capture(["validate", "--schema", "pair", file, "--on-invalid", "skip", "--rejects", rej]);
    expect(s.code).toBe(0);
    expect((await jsonl(rej)).map((x) => [x.line, x.field])).toEqual([
      [2, "id"],
      [3, "chosen"],
    ]);
  });

  it("refuses bad flags with exit code 2 and leaves no rejects file on failure", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "x.jsonl");
    await writeFile(file, "{}\n");
    expect((await capture(["validate", "--schema", "nope", file])).code).toBe(2);
    expect((await capture(["validate", "--schema", "doc", file, "--rejects", path.join(dir, "r.jsonl")])).code).toBe(2);
    const missing = await capture(["validate", "--schema", "doc", path.join(dir, "missing.jsonl"), "--on-invalid", "skip", "--rejects", path.join(dir, "r.jsonl")]);
    expect(missing.code).toBe(2); // a missing input is a usage error in every command
    expect(existsSync(path.join(dir, "r.jsonl"))).toBe(false);
  });
});
