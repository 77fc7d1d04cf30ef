// A missing input, a folder or a pipe where a file belongs: every reading command exits 2 and names the path,
// whether it checks its inputs up front or its reader finds the problem.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

describe("inputs that are not there", () => {
  it.each([
    (x: string, o: string) => ["stats", x],
    (x: string, o: string) => ["validate", "--schema", "dialogue", x],
    // convert takes folders as inputs (every file under one), so only a missing path is a mistake there
    Object.assign((x: string, o: string) => ["convert", "--from", "dialogue", x, "-o", o], { folders: true }),
    Object.assign((x: string, o: string) => ["convert", "--from", "cmexam", x, "-o", o], { folders: true }),
    (x: string, o: string) => ["dedup", x, "-o", o],
    (x: string, o: string) => ["sample", x, "-n", "2", "-o", o],
    (x: string, o: string) => ["pii", "scan", x],
    (x: string, o: string) => ["apply-instructions", "-i", x, "--instructions", x, "-o", o],
    (x: string, o: string) => ["eval", "compare", "--metric", "rouge-l", "--refs", x, "--a", x, "--b", x, "-o", o],
  ])("%#: a missing file (and a folder where a file belongs) exits 2 naming the path", async (argv) => {
    const d = await tempDir();
    const missing = path.join(d, "nope.jsonl");
    const out = path.join(d, "out", "o.jsonl");
    const gone = await capture(["-q", ...argv(missing, out)]);
    expect(gone.code, gone.stderr).toBe(2);
    expect(gone.stderr).toContain(missing);
    if ("folders" in argv) return;
    const folder = path.join(d, "dir.jsonl");
    await mkdir(folder);
    const dir = await capture(["-q", ...argv(folder, out)]);
    expect(dir.code, dir.stderr).toBe(2);
    expect(dir.stderr).toContain(folder);
  });
});
