import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it, vi } from "vitest";
import { atomicWrite } from "./atomic-write.js";
import { AtomicFile } from "./atomic-file.js";
import { liveTemps, parseTempName, removeTempsNow, sweepStaleTemps, tempPathFor } from "./temp-files.js";

/** A pid that is certainly not running: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(r.stdout.toString());
}

describe("temp files", () => {
  it("tempPathFor names parse back to their target and pid", () => {
    const t = tempPathFor("/x/out.v1.jsonl.gz");
    expect(parseTempName(path.basename(t))).toEqual({ target: "out.v1.jsonl.gz", pid: process.pid });
    expect(parseTempName("out.jsonl")).toBeUndefined();
  });

  it("an in-flight AtomicFile temp is registered, and removeTempsNow removes it", async () => {
    const dir = await tempDir();
    const f = new AtomicFile(path.join(dir, "out.jsonl"), 4);
    await f.write("0123");
    await f.write("4567"); // the buffer was full: the temp file is being written
    const [tmp] = liveTemps().filter((t) => t.startsWith(dir));
    expect(tmp).toBeDefined();
    await vi.waitFor(() => expect(existsSync(tmp!)).toBe(true));
    expect(removeTempsNow()).toContain(tmp);
    expect(existsSync(tmp!)).toBe(false);
    expect(liveTemps()).toEqual([]);
    await f.abort();
  });

  it("a finished atomicWrite leaves nothing registered", async () => {
    const dir = await tempDir();
    await atomicWrite(path.join(dir, "a.txt"), ["x"]);
    expect(liveTemps().filter((t) => t.startsWith(dir))).toEqual([]);
  });

  it("sweepStaleTemps removes temps of dead writers only, honouring prefix and age", async () => {
    const dir = await tempDir();
    const dead = deadPid();
    const stale = `.out.jsonl.${dead}.abc123.tmp`;
    const otherTarget = `.report.json.${dead}.def456.tmp`;
    const mine = path.basename(tempPathFor(path.join(dir, "out.jsonl")));
    const fresh = `.out.jsonl.${dead}.fff.tmp`;
    for (const n of [stale, otherTarget, mine, fresh, "out.jsonl", ".hidden.tmp"]) await writeFile(path.join(dir, n), "x");
    const old = new Date(Date.now() - 3_600_000);
    for (const n of [stale, otherTarget, mine]) await utimes(path.join(dir, n), old, old);
    expect(await sweepStaleTemps(dir, { prefix: "out.jsonl", olderThanMs: 60_000 })).toEqual([path.join(dir, stale)]);
    expect((await sweepStaleTemps(dir)).sort()).toEqual([path.join(dir, fresh), path.join(dir, otherTarget)].sort());
    expect((await readdir(dir)).sort()).toEqual([".hidden.tmp", mine, "out.jsonl"].sort());
    expect(await sweepStaleTemps(path.join(dir, "missing"))).toEqual([]);
  });
});
