import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Checkpoint, writeSafetensors } from "@sfmed/dpo-merge";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

async function model(dir: string, values: number[]) {
  const { mkdir } = await import("node:fs/promises");
  await mkdir(dir, { recursive: true });
  await writeSafetensors({ path: path.join(dir, "model.safetensors"), tensors: [{ name: "w", dtype: "BF16", shape: [2, 2], data: Float32Array.from(values) }] });
  await writeFile(path.join(dir, "config.json"), "{}");
}

describe("sfmed merge", () => {
  it("merges with task arithmetic and reports", async () => {
    const dir = await tempDir();
    await model(path.join(dir, "base"), [1, 1, 1, 1]);
    await model(path.join(dir, "a"), [2, 0, 1, 3]);
    await model(path.join(dir, "b"), [1, 2, 0, 1]);
    const out = path.join(dir, "out");
    const r = await capture(["merge", "--method", "task_arithmetic", "--base", path.join(dir, "base"), "--models", path.join(dir, "a"), path.join(dir, "b"), "--weights", "0.5", "1", "-o", out]);
    expect(r.stderr).toContain("merged 1 tensors");
    expect(r.code).toBe(0);
    const ck = await Checkpoint.open(out);
    // 1 + 0.5·(a−1) + (b−1)
    expect([...(await ck.readF32("w"))]).toEqual([1.5, 1.5, 0, 2]);
    await ck.close();
    expect((await readdir(out)).sort()).toEqual(["config.json", "model.safetensors", "sfmed-merge.json"]);
    expect(JSON.parse(await readFile(path.join(out, "sfmed-merge.json"), "utf8")).parameters.weights).toEqual([0.5, 1]);
  });

  it("rejects bad flags with a usage error and writes nothing", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "out");
    const bad = await capture(["merge", "--method", "nope", "--models", "x", "-o", out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--method must be one of");
    const w = await capture(["merge", "--method", "linear", "--models", "x", "y", "--weights", "1", "-o", out]);
    expect(w.code).toBe(2);
    // option values the library checks (a missing --base, --density out of range) are usage errors too
    const missing = await capture(["merge", "--method", "ties", "--models", path.join(dir, "none"), "-o", out]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("MergeInputError: base: ties needs a base model");
    const density = await capture(["merge", "--method", "ties", "--base", path.join(dir, "b"), "--models", path.join(dir, "m"), "--density", "1.5", "-o", out]);
    expect(density.code).toBe(2);
    expect(density.stderr).toContain("density: must be in [0, 1], got 1.5");
    expect(existsSync(out)).toBe(false);
  });
});
