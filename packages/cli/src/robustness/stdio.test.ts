// `-` as stdin/stdout: commands with one input (or one output) read a pipe as they read a file — format and
// gzip sniffed from the bytes — and write JSONL to stdout.
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { repoRoot } from "@sfmed/test-utils";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { extensionFor } from "../commands/io-helpers.js";

const BIN = path.join(repoRoot, "packages/cli/src/bin.ts");
const dlg = (i: number) => ({ id: `d${i}`, messages: [{ role: "user", content: `问题${i}：头痛怎么办？` }, { role: "assistant", content: `回答${i}：注意休息。` }] });

/** Run the CLI from source with `input` on stdin. */
function run(args: string[], input: Uint8Array | string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", BIN, "-q", ...args], { cwd: repoRoot });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const stdinCopies = async () => (await readdir(tmpdir())).filter((n) => n.startsWith("sfmed-stdin-"));

describe("- as stdin and stdout", () => {
  it("convert - -o - passes records through a pipe, and leaves no copy of stdin behind", async () => {
    const before = new Set(await stdinCopies());
    const records = [dlg(1), dlg(2), dlg(3)];
    const r = await run(["convert", "--from", "dialogue", "-", "-o", "-"], records.map((x) => JSON.stringify(x)).join("\n") + "\n");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").map((l) => JSON.parse(l).id)).toEqual(["d1", "d2", "d3"]);
    expect((await stdinCopies()).filter((n) => !before.has(n))).toEqual([]);
  }, 60_000);

  it("stats - reads gzip JSON arrays from a pipe", async () => {
    const body = gzipSync(JSON.stringify([dlg(1), dlg(2)]));
    const r = await run(["stats", "-", "--json"], body);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ file: "-", stats: { records: 2, byKind: { dialogue: 2 } } });
  }, 60_000);

  it("pii scan - finds personal data in piped text", async () => {
    const r = await run(["pii", "scan", "-", "--format", "text", "--fail-on-find"], "患者电话13812345678，请回访。\n");
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/1 findings/);
  }, 60_000);

  it("sample - -o - writes a seeded sample to stdout", async () => {
    const input = Array.from({ length: 20 }, (_, i) => JSON.stringify(dlg(i))).join("\n") + "\n";
    const a = await run(["sample", "-", "-n", "5", "--seed", "3", "-o", "-"], input);
    const b = await run(["sample", "-", "-n", "5", "--seed", "3", "-o", "-"], input);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.trim().split("\n")).toHaveLength(5);
    expect(a.stdout).toBe(b.stdout);
  }, 60_000);
});

describe("extensionFor names piped bytes so the readers pick their format", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  it.each([
    ['{"id":"a"}\n', ".jsonl"],
    ['  [{"id":"a"}]', ".json"],
    ["\ufeff[1]", ".json"],
    ["question,answer\n头痛,休息\n", ".csv"],
    ["question\tanswer\n", ".tsv"],
    ["患者电话13812345678\n", ".txt"],
    ["", ".jsonl"],
  ])("%j → %s", (text, ext) => {
    expect(extensionFor(enc(text))).toBe(ext);
    expect(extensionFor(gzipSync(enc(text)))).toBe(ext + ".gz");
  });
  it("PAR1 is Parquet", () => expect(extensionFor(enc("PAR1\u0000\u0000"))).toBe(".parquet"));

  it("any JSON object stream is JSONL, any JSON array is JSON, gzipped or not", () => {
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue()), { minLength: 1, maxLength: 5 }), fc.boolean(), (objs, gz) => {
        const jsonl = enc(objs.map((o) => JSON.stringify(o)).join("\n"));
        const arr = enc(JSON.stringify(objs));
        const wrap = (b: Uint8Array) => (gz ? gzipSync(b) : b);
        expect(extensionFor(wrap(jsonl))).toBe(".jsonl" + (gz ? ".gz" : ""));
        expect(extensionFor(wrap(arr))).toBe(".json" + (gz ? ".gz" : ""));
      }),
    );
  });
});
