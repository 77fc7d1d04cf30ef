// Contract cases found by running the CLI the way users do: pipes passed as files, missing inputs to convert,
// folders given to pii, out-of-range dedup flags. Each one once broke a promise of docs/failure-modes.md.
import { execFileSync } from "node:child_process";
import { readdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const dlg = (i: number) => JSON.stringify({ id: `d${i}`, messages: [{ role: "user", content: `问题${i}` }, { role: "assistant", content: `回答${i}` }] });

describe("inputs that are not regular files", () => {
  it("a FIFO is refused naming it (no ESPIPE, no open() that blocks forever)", async () => {
    const d = await tempDir();
    const fifo = path.join(d, "pipe.jsonl");
    execFileSync("mkfifo", [fifo]);
    for (const argv of [["stats", fifo], ["convert", "--from", "dialogue", fifo, "-o", path.join(d, "out.jsonl")], ["pii", "scan", fifo]]) {
      const r = await capture(["-q", ...argv]);
      expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`${fifo}: is not a regular file`);
    }
    expect((await readdir(d)).sort()).toEqual(["pipe.jsonl"]);
  });

  it("convert names a missing input and a dangling symlink (not a bare ENOENT)", async () => {
    const d = await tempDir();
    const missing = path.join(d, "nope.jsonl");
    const dangling = path.join(d, "link.jsonl");
    await symlink(path.join(d, "gone.jsonl"), dangling);
    for (const f of [missing, dangling]) {
      const r = await capture(["-q", "convert", "--from", "dialogue", f, "-o", path.join(d, "out.jsonl")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`SchemaError: ${f}: no such file`);
    }
  });

  it("pii scan and redact on a folder say it is a folder", async () => {
    const d = await tempDir();
    const scan = await capture(["-q", "pii", "scan", d]);
    expect(scan.code).toBe(2);
    expect(scan.stderr).toContain(`${d}: is a folder; expected a file`);
    const redact = await capture(["-q", "pii", "redact", d, "-o", path.join(d, "..", "x.jsonl")]);
    expect(redact.code).toBe(2);
    expect(redact.stderr).toContain(`${d}: is a folder; expected a file`);
  });
});

describe("dedup flags are bounded usage errors", () => {
  it.each([
    [["--threshold", "1.5"], '--threshold must be a number > 0 and ≤ 1, got "1.5"'],
    [["--threshold", "0"], '--threshold must be a number > 0 and ≤ 1, got "0"'],
    [["--num-perm", "0"], '--num-perm must be an integer ≥ 1 and ≤ 8192, got "0"'],
    [["--num-perm", "1e9"], '--num-perm must be an integer ≥ 1 and ≤ 8192, got "1e9"'],
    [["--ngram", "0"], '--ngram must be an integer ≥ 1 and ≤ 1024, got "0"'],
    [["--threads", "-1"], '--threads must be an integer ≥ 0 and ≤ 4096, got "-1"'],
  ])("dedup %j exits 2 before reading anything", async (flags, message) => {
    const d = await tempDir();
    const input = path.join(d, "in.jsonl");
    await writeFile(input, [dlg(1), dlg(2)].join("\n") + "\n");
    const r = await capture(["-q", "dedup", input, "-o", path.join(d, "out.jsonl"), ...flags]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(await readdir(d)).toEqual(["in.jsonl"]);
  });
});
