// The contract every sfmed command keeps, checked table-driven across the subcommands: exit codes (0/1/2/130/143),
// outputs that never overwrite inputs, errors that name their file, bounded flags, empty results that fail,
// and temp files that never outlive a run.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Command } from "commander";
import { repoRoot, samplePath, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { applySets } from "../commands/train.js";
import { maskUrl } from "../flags.js";
import { buildProgram } from "../program.js";
import { exitCodeFor } from "../run.js";
import { capture } from "../test-helpers/capture.js";

const dlg = (i: number) => JSON.stringify({ id: `d${i}`, messages: [{ role: "user", content: `问题${i}：头痛怎么办？` }, { role: "assistant", content: `回答${i}：注意休息。` }] });
const qa = (i: number) => JSON.stringify({ id: `q${i}`, prompt: [{ role: "user", content: `问题${i}` }], reference: `参考${i}` });

/** Every leaf command path, e.g. ["eval", "rouge"]. */
function leaves(cmd: Command, prefix: string[] = []): string[][] {
  if (cmd.commands.length === 0) return [prefix];
  return cmd.commands.flatMap((c) => leaves(c, [...prefix, c.name()]));
}

describe("exit codes", () => {
  it("commander's own errors exit 2 in every subcommand (unknown option), help exits 0", async () => {
    const program = await buildProgram();
    const all = leaves(program);
    expect(all.length).toBeGreaterThan(20);
    for (const p of all) {
      const r = await capture([...p, "--no-such-option-xyz"]);
      expect(r.code, `${p.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/unknown option|required option|missing/);
    }
    expect((await capture(["no-such-command"])).code).toBe(2);
    expect((await capture(["eval", "rouge", "--refs"])).code).toBe(2); // argument missing
    expect((await capture(["convert", "--help"])).code).toBe(0);
  }, 120_000);

  it("maps typed errors: usage 2, interrupted 130/143, anything else 1", () => {
    const named = (name: string, extra: object = {}) => Object.assign(new Error("x"), { name }, extra);
    expect(exitCodeFor(named("UsageError"))).toBe(2);
    expect(exitCodeFor(named("PathCollisionError"))).toBe(2);
    expect(exitCodeFor(named("InterruptedError", { exitCode: 130 }))).toBe(130);
    expect(exitCodeFor(named("InterruptedError", { exitCode: 143 }))).toBe(143);
    expect(exitCodeFor(named("ParseError"))).toBe(1);
    expect(exitCodeFor("a string")).toBe(1);
  });
});

describe("outputs never overwrite inputs", () => {
  // [name, argv given a folder with in.jsonl (dialogues) and qa.jsonl, the two flags named, the file that must survive]
  const cases: Array<[string, (d: string) => string[], [string, string], string]> = [
    ["convert -o X --rejects X", (d) => ["convert", "--from", "dialogue", `${d}/in.jsonl`, "-o", `${d}/x.jsonl`, "--on-invalid", "skip", "--rejects", `${d}/./x.jsonl`], ["--rejects", "-o"], "in.jsonl"],
    ["convert -o IN", (d) => ["convert", "--from", "dialogue", `${d}/in.jsonl`, "-o", `${d}/sub/../in.jsonl`], ["-o", "<in>"], "in.jsonl"],
    ["validate IN --rejects IN", (d) => ["validate", "--schema", "dialogue", `${d}/in.jsonl`, "--on-invalid", "skip", "--rejects", `${d}/in.jsonl`], ["--rejects", "<file>"], "in.jsonl"],
    ["dedup -o X --removed X", (d) => ["dedup", `${d}/in.jsonl`, "-o", `${d}/x.jsonl`, "--removed", `${d}/x.jsonl`], ["--removed", "-o"], "in.jsonl"],
    ["dedup --report IN (symlink)", (d) => ["dedup", `${d}/in.jsonl`, "-o", `${d}/x.jsonl`, "--report", `${d}/link.jsonl`], ["--report", "<in>"], "in.jsonl"],
    ["generate -i X -o X", (d) => ["generate", "-i", `${d}/qa.jsonl`, "-o", `${d}/qa.jsonl/`, "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], ["-o", "-i"], "qa.jsonl"],
    ["pii redact IN -o IN", (d) => ["pii", "redact", `${d}/in.jsonl`, "-o", `${d}/in.jsonl`], ["-o", "<file>"], "in.jsonl"],
    ["pii scan --report IN", (d) => ["pii", "scan", `${d}/in.jsonl`, "--report", `${d}/in.jsonl`], ["--report", "<file>"], "in.jsonl"],
    ["apply-instructions -i X -o X", (d) => ["apply-instructions", "-i", `${d}/in.jsonl`, "-o", `${d}/in.jsonl`], ["-o", "-i"], "in.jsonl"],
    ["pref select -i X --report X", (d) => ["pref", "select", "-i", `${d}/in.jsonl`, "-o", `${d}/x.jsonl`, "--report", `${d}/in.jsonl`], ["--report", "-i"], "in.jsonl"],
    ["merge -o inside --models", (d) => ["merge", "--method", "linear", "--models", `${d}/sub`, "-o", `${d}/sub/merged`], ["-o", "--models"], "in.jsonl"],
    ["eval rouge --refs OUT/rouge.json", (d) => ["eval", "rouge", "--refs", `${d}/rouge.json`, "--pred", `${d}/qa.jsonl`, "-o", d], ["-o (rouge.json)", "--refs"], "rouge.json"],
  ];

  it.each(cases)("%s exits 2 naming both flags and leaves the input as it was", async (_name, argv, flags, survivor) => {
    const d = await tempDir();
    const input = [dlg(1), dlg(2)].join("\n") + "\n";
    await writeFile(path.join(d, "in.jsonl"), input);
    await writeFile(path.join(d, "qa.jsonl"), [qa(1), qa(2)].join("\n") + "\n");
    await writeFile(path.join(d, "rouge.json"), [qa(1)].join("\n") + "\n");
    await mkdir(path.join(d, "sub"));
    const { symlink } = await import("node:fs/promises");
    await symlink(path.join(d, "in.jsonl"), path.join(d, "link.jsonl"));
    const before = await readFile(path.join(d, survivor));
    const r = await capture(["-q", ...argv(d)]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("PathCollisionError");
    expect(r.stderr).toContain(`${flags[0]} and ${flags[1]}`);
    expect(Buffer.compare(await readFile(path.join(d, survivor)), before)).toBe(0);
  });
});

describe("errors name their file", () => {
  it("a folder, a missing file, a wrong encoding and a corrupt Parquet file", async () => {
    const d = await tempDir();
    const folder = await capture(["-q", "validate", "--schema", "dialogue", d]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(`${d}: is a folder; expected a file`);

    const missing = path.join(d, "nope.jsonl");
    const gone = await capture(["-q", "stats", missing]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`${missing}: no such file`);

    const gb = path.join(d, "gb.jsonl");
    const bytes = Buffer.concat([Buffer.from(dlg(1) + "\n"), Buffer.from('{"id":"x","text":"'), Buffer.from([0xc4, 0xe3, 0xba, 0xc3]), Buffer.from('"}\n')]);
    await writeFile(gb, bytes);
    const enc = await capture(["-q", "stats", "--encoding", "utf-8", gb]);
    expect(enc.code).toBe(1);
    expect(enc.stderr).toContain(`${gb}: invalid UTF-8 at line 2, byte ${Buffer.byteLength(dlg(1) + "\n") + 18}`);

    const pq = path.join(d, "bad.parquet");
    await writeFile(pq, Buffer.from("PAR1 this is not parquet at all PAR1"));
    const corrupt = await capture(["-q", "stats", pq]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain(pq);
    expect(corrupt.stderr).toContain("Parquet");
  });

  it.each([
    [["eval", "compare", "--refs", "r", "--a", "a", "--b", "b", "-o", "o", "--resamples", "1e12"], '--resamples must be an integer ≥ 1 and ≤ 1000000, got "1e12"'],
    [["pii", "scan", "f", "--threshold", "2"], '--threshold must be a number ≥ 0 and ≤ 1, got "2"'],
    [["generate", "-i", "f", "-o", "g", "--base-url", "u", "--model", "m", "-n", "1.5"], '--n must be an integer ≥ 1 and ≤ 1024, got "1.5"'],
    [["pii", "redact", "f", "-o", "g", "--mode", "shred"], '--mode must be tag, mask, hash, got "shred"'],
  ])("a bad flag value is a usage error naming it: %j", async (argv, message) => {
    const r = await capture(["-q", ...argv]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

describe("empty results fail unless --allow-empty", () => {
  it("convert and validate where every record was rejected; eval mc where no prediction matches", async () => {
    const d = await tempDir();
    const bad = path.join(d, "bad.jsonl");
    await writeFile(bad, '{"id":"a"}\n{"id":"b","messages":[]}\n');
    const v = await capture(["-q", "validate", "--schema", "dialogue", bad, "--on-invalid", "skip"]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain("all 2 rejected");
    expect((await capture(["-q", "validate", "--schema", "dialogue", bad, "--on-invalid", "skip", "--allow-empty"])).code).toBe(0);
    const c = await capture(["-q", "convert", "--from", "dialogue", bad, "-o", path.join(d, "out.jsonl"), "--on-invalid", "skip"]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("--allow-empty");

    const questions = path.join(d, "q.jsonl");
    await writeFile(questions, JSON.stringify({ id: "c1", question: "高血压首选？", options: { A: "甲", B: "乙" }, answer: ["A"] }) + "\n");
    const preds = path.join(d, "p.jsonl");
    await writeFile(preds, JSON.stringify({ id: "other", model: "m", output: "A" }) + "\n");
    const mc = await capture(["-q", "eval", "mc", "--questions", questions, "--pred", preds, "-o", path.join(d, "mc")]);
    expect(mc.code).toBe(1);
    expect(mc.stderr).toContain("no prediction");
    expect((await capture(["-q", "eval", "mc", "--questions", questions, "--pred", preds, "-o", path.join(d, "mc"), "--allow-empty"])).code).toBe(0);
  });
});

describe("PII in compressed and GB18030 files", () => {
  it("pii scan finds PII inside a gzip file and redact writes gzip back", async () => {
    const d = await tempDir();
    const file = path.join(d, "docs.jsonl.gz");
    await writeFile(file, gzipSync(JSON.stringify({ id: "a", text: "电话13800138000" }) + "\n"));
    const r = await capture(["-q", "pii", "scan", file]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { total: number }).total).toBe(1);
    const out = path.join(d, "clean.jsonl.gz");
    expect((await capture(["-q", "pii", "redact", file, "-o", out])).code).toBe(0);
    const { gunzipSync } = await import("node:zlib");
    expect(gunzipSync(await readFile(out)).toString("utf8")).toBe('{"id":"a","text":"电话[手机号]"}\n');
  });

  it("pii redact keeps GB18030 Chinese (the Toyhom sample) instead of U+FFFD", async () => {
    const d = await tempDir();
    const out = path.join(d, "clean.txt");
    const r = await capture(["-q", "pii", "redact", samplePath("toyhom/内科.txt"), "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(out, "utf8");
    expect(text).not.toContain("\uFFFD");
    expect(text).toMatch(/[\u4e00-\u9fff]{4}/);
  });
});

describe("train --set", () => {
  it("refuses keys that reach a prototype, and pollutes nothing", () => {
    for (const key of ["__proto__.polluted", "a.__proto__.polluted", "constructor.prototype.polluted", "a..b"]) {
      expect(() => applySets({}, [`${key}=1`])).toThrow(/is not allowed/);
    }
    const out = applySets({}, ["toString.x=1", 'a={"__proto__":{"polluted":1}}']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(out, "toString")).toBe(true);
  });
});

describe("credentials in URLs are masked", () => {
  it.each([
    ["connect to http://alice:s3cret@host:8000/v1 failed", "connect to http://***@host:8000/v1 failed"],
    ["https://token@api.example.com/v1", "https://***@api.example.com/v1"],
    ["http://h/v1?api_key=abc123&x=1", "http://h/v1?api_key=***&x=1"],
    ["plain text with user@example.com", "plain text with user@example.com"],
  ])("%s", (input, want) => expect(maskUrl(input)).toBe(want));
});

describe("temp files never outlive a run", () => {
  const BIN = path.join(repoRoot, "packages/cli/src/bin.ts");

  it("SIGINT during a write exits 130 and leaves no temp file; a stale temp of a killed run is swept by the next run", async () => {
    const d = await tempDir();
    const input = path.join(d, "in.jsonl");
    const lines: string[] = [];
    for (let i = 0; i < 150_000; i++) lines.push(dlg(i));
    await writeFile(input, lines.join("\n") + "\n");
    const out = path.join(d, "out", "x.jsonl");
    await mkdir(path.dirname(out));
    const child = spawn(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", BIN, "-q", "convert", "--from", "dialogue", input, "-o", out], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    // wait for the temp file to appear, then interrupt
    const deadline = Date.now() + 60_000;
    let sawTemp = false;
    while (Date.now() < deadline && child.exitCode === null) {
      if ((await readdir(path.dirname(out))).some((n) => n.endsWith(".tmp"))) {
        sawTemp = true;
        child.kill("SIGINT");
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const code = await exited;
    expect(sawTemp, stderr).toBe(true);
    expect(code, stderr).toBe(130);
    expect(await readdir(path.dirname(out))).toEqual([]);

    // A temp left by a killed writer (its pid is gone) is removed by the next run that writes there.
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString());
    const stale = path.join(path.dirname(out), `.x.jsonl.${dead}.k1ll3d.tmp`);
    await writeFile(stale, "half a file");
    await writeFile(input, [dlg(1), dlg(2)].join("\n") + "\n");
    expect((await capture(["-q", "convert", "--from", "dialogue", input, "-o", out])).code).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(await readdir(path.dirname(out))).toEqual(["x.jsonl"]);
  }, 120_000);
});
