import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { digestInputs, stageReport, writeJsonFile, writeStageReport } from "./stage-report.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("stage report", () => {
  it("hashes every input by content", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "a.jsonl");
    const b = path.join(dir, "b.jsonl");
    await writeFile(a, '{"id":"1"}\n');
    await writeFile(b, "问答\n");
    expect(await digestInputs([a, b])).toEqual([
      { file: a, sha256: sha('{"id":"1"}\n') },
      { file: b, sha256: sha("问答\n") },
    ]);
  });

  it("has one shape: command, the command's fields, inputs, seconds, createdAt", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "in.jsonl");
    await writeFile(a, "x\n");
    const started = Date.now() - 1500;
    const r = await stageReport({ command: "pref vote", inputs: [a], started, fields: { params: { seed: 1 }, summary: { pairs: 3 } } });
    expect(Object.keys(r)).toEqual(["command", "params", "summary", "inputs", "seconds", "createdAt"]);
    expect(r.inputs).toEqual([{ file: a, sha256: sha("x\n") }]);
    expect(r.seconds).toBeGreaterThanOrEqual(1.5);
    expect(Number.isNaN(Date.parse(String(r.createdAt)))).toBe(false);
  });

  it("is written atomically as pretty JSON, also under a .gz name, leaving no temp file", async () => {
    const dir = await tempDir();
    const a = path.join(dir, "in.jsonl");
    await writeFile(a, "x\n");
    const file = path.join(dir, "report.json.gz");
    const written = await writeStageReport(file, { command: "eval rouge", inputs: [a], started: Date.now(), fields: {} });
    const text = await readFile(file, "utf8");
    expect(text.endsWith("}\n")).toBe(true);
    expect(JSON.parse(text)).toEqual(written);
    expect((await readdir(dir)).sort()).toEqual(["in.jsonl", "report.json.gz"]);
    await writeJsonFile(path.join(dir, "v.json"), [1]);
    expect(await readFile(path.join(dir, "v.json"), "utf8")).toBe("[\n  1\n]\n");
  });

  it("fails naming a missing input, and writes nothing", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "r.json");
    await expect(writeStageReport(file, { command: "x", inputs: [path.join(dir, "gone.jsonl")], started: 0, fields: {} })).rejects.toThrow(/gone\.jsonl/);
    expect(await readdir(dir)).toEqual([]);
  });
});
