import path from "node:path";
import { readFile } from "node:fs/promises";
import type { ScoreItem, ScoreModel } from "@sfmed/llm";
import type { PreferencePair } from "@sfmed/schema";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { scoreWithModels } from "./score-with-models.js";

const pairs: PreferencePair[] = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, prompt: [{ role: "user", content: `q${i}` }], chosen: "x".repeat(i + 2), rejected: "y".repeat(3) }));

/** A reward model scoring by response length times a factor. */
function rm(name: string, factor: number, opts: { failAfter?: number; short?: boolean } = {}): ScoreModel & { batches: number[] } {
  const m = {
    name,
    batches: [] as number[],
    async score(items: ScoreItem[]) {
      m.batches.push(items.length);
      if (opts.failAfter !== undefined && m.batches.length > opts.failAfter) throw new Error("boom");
      const s = items.map((it) => it.response.length * factor);
      return opts.short ? s.slice(1) : s;
    },
  };
  return m;
}

describe("scoreWithModels", () => {
  it("scores chosen and rejected with every model in batches", async () => {
    const a = rm("a", 1);
    const b = rm("b", -2);
    const r = await scoreWithModels({ pairs, models: [a, b], batchSize: 4 });
    expect(a.batches).toEqual([8, 8, 4]);
    expect(r.models).toEqual(["a", "b"]);
    expect(r.pairs[3]!.scores).toEqual({ chosen: [5, -10], rejected: [3, -6], models: ["a", "b"] });
    expect(r.unscored).toEqual([]);
  });

  it("refuses a wrong number of scores and duplicate model names", async () => {
    await expect(scoreWithModels({ pairs, models: [rm("a", 1, { short: true })] })).rejects.toThrow(/returned 19 scores for 20 items/);
    await expect(scoreWithModels({ pairs, models: [rm("a", 1), rm("a", 2)] })).rejects.toMatchObject({ name: "OptionError" });
  });

  it("resumes from its checkpoint, scoring only what is left", async () => {
    const ckpt = path.join(await tempDir(), "scores.ckpt.jsonl");
    await expect(scoreWithModels({ pairs, models: [rm("a", 1), rm("b", 2, { failAfter: 2 })], batchSize: 3, concurrency: 1, checkpoint: ckpt })).rejects.toMatchObject({ name: "ModelCallError", model: "b" });
    const lines = (await readFile(ckpt, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(10 + 6);
    const a = rm("a", 1);
    const b = rm("b", 2);
    const r = await scoreWithModels({ pairs, models: [a, b], batchSize: 3, checkpoint: ckpt });
    expect(a.batches).toEqual([]);
    expect(b.batches).toEqual([6, 2]);
    const clean = await scoreWithModels({ pairs, models: [rm("a", 1), rm("b", 2)] });
    expect(r.pairs).toEqual(clean.pairs);
  });
});
