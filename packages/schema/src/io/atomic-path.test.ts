import { existsSync } from "node:fs";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { AtomicPath } from "./atomic-path.js";
import { liveTemps } from "./temp-files.js";

describe("AtomicPath", () => {
  it("a file written by path appears at its destination only on commit, with no temp left", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "sub", "x.parquet");
    const out = await AtomicPath.create(file);
    expect(path.dirname(out.path)).toBe(path.dirname(file));
    expect(liveTemps()).toContain(out.path);
    await writeFile(out.path, "part 1");
    await writeFile(out.path, "part 2", { flag: "a" });
    expect(existsSync(file)).toBe(false);
    await out.commit();
    expect(await readFile(file, "utf8")).toBe("part 1part 2");
    expect(await readdir(path.dirname(file))).toEqual(["x.parquet"]);
    expect(liveTemps()).not.toContain(out.path);
  });

  it("abort removes the temp and leaves an existing file as it was", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "kept.parquet");
    await writeFile(file, "old");
    const out = await AtomicPath.create(file);
    await writeFile(out.path, "new, half written");
    await out.abort();
    expect(await readFile(file, "utf8")).toBe("old");
    expect(await readdir(dir)).toEqual(["kept.parquet"]);
    expect(liveTemps()).not.toContain(out.path);
    await (await AtomicPath.create(file)).abort(); // nothing written: still fine
  });
});
