import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { AtomicDir, replaceDir } from "./atomic-dir.js";
import { liveTemps, removeTempsNow, sweepStaleTemps, tempPathFor } from "./temp-files.js";

const deadPid = (): number => Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString());

describe("AtomicDir / replaceDir", () => {
  it("replaces an existing folder whole and leaves nothing beside it", async () => {
    const root = await tempDir();
    const final = path.join(root, "index");
    await mkdir(path.join(final, "old-only"), { recursive: true });
    await writeFile(path.join(final, "a.bin"), "old");
    const out = await AtomicDir.create(final);
    expect(liveTemps()).toContain(path.resolve(out.path));
    await mkdir(path.join(out.path, "shards"));
    await writeFile(path.join(out.path, "a.bin"), "new");
    await writeFile(path.join(out.path, "shards", "0"), "s0");
    expect(await readFile(path.join(final, "a.bin"), "utf8")).toBe("old"); // untouched until commit
    await out.commit();
    expect((await readdir(final)).sort()).toEqual(["a.bin", "shards"]);
    expect(await readFile(path.join(final, "shards", "0"), "utf8")).toBe("s0");
    expect(await readdir(root)).toEqual(["index"]);
    expect(liveTemps()).not.toContain(path.resolve(out.path));
  });

  it("creates the folder when it did not exist, and abort leaves the old one as it was", async () => {
    const root = await tempDir();
    const final = path.join(root, "deep", "ckpt");
    const a = await AtomicDir.create(final);
    await writeFile(path.join(a.path, "x"), "1");
    await a.commit();
    const b = await AtomicDir.create(final);
    await writeFile(path.join(b.path, "x"), "2");
    await b.abort();
    expect(await readFile(path.join(final, "x"), "utf8")).toBe("1");
    expect(await readdir(path.dirname(final))).toEqual(["ckpt"]);
  });

  it("puts the old folder back when the new one cannot be moved in", async () => {
    const root = await tempDir();
    const final = path.join(root, "out");
    await mkdir(final);
    await writeFile(path.join(final, "keep"), "k");
    await expect(replaceDir(path.join(root, "missing-tmp"), final)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readFile(path.join(final, "keep"), "utf8")).toBe("k");
    expect(await readdir(root)).toEqual(["out"]);
  });

  it("an in-flight temp folder goes with removeTempsNow, and a killed run's is swept", async () => {
    const root = await tempDir();
    const live = await AtomicDir.create(path.join(root, "live"));
    await writeFile(path.join(live.path, "f"), "x");
    expect(removeTempsNow()).toContain(path.resolve(live.path));
    expect(existsSync(live.path)).toBe(false);

    const stale = tempPathFor(path.join(root, "dead")).replace(`.${process.pid}.`, `.${deadPid()}.`);
    await mkdir(path.join(stale, "sub"), { recursive: true });
    await writeFile(path.join(stale, "sub", "f"), "x");
    expect(await sweepStaleTemps(root)).toEqual([stale]);
    expect(existsSync(stale)).toBe(false);
  });
});
