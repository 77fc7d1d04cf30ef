import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { PrivacyProbeError } from "../errors.js";
import { fakeEmbeddingModel } from "../fake-models.test-helpers.js";
import { buildHighRiskDb } from "./build-high-risk-db.js";
import { loadHighRiskDb, saveHighRiskDb } from "./high-risk-db.js";

const samples = [
  { id: "m1", prefix: "患者王某的住院记录显示", suffix: "其联系电话为……" },
  { id: "m2", prefix: "复诊时医生叮嘱说", suffix: "每日服用两次。" },
  { id: "m3", prefix: "检查报告单上写着", suffix: "白细胞计数偏高。" },
];

describe("high-risk database", () => {
  it("embeds prompts at the configured layer with mean pooling and pairs safe-response replacements", async () => {
    const model = fakeEmbeddingModel(32);
    const progress: number[] = [];
    const db = await buildHighRiskDb({
      model,
      samples,
      layer: 5,
      replacements: { safeResponses: { m1: "抱歉，我不能提供个人信息。", m2: "请遵医嘱。", m3: "请咨询医生。" } },
      batchSize: 2,
      onProgress: (p) => progress.push(p.embedded),
    });
    expect(model.calls.every((c) => c.options.layer === 5 && c.options.pooling === "mean")).toBe(true);
    expect(model.calls[0]!.inputs).toEqual([samples[0]!.prefix, samples[1]!.prefix]);
    expect(progress).toEqual([2, 3, 5, 6]);
    expect(db.entries.size).toBe(3);
    expect(db.meta).toMatchObject({ layer: 5, pooling: "mean", embedded: "prefix", model: "fake-embedder" });
    const [expected] = await model.embed(["请遵医嘱。"], { layer: 5, pooling: "mean" });
    expect(Array.from(db.replacements[1]!)).toEqual(Array.from(expected!));
    // A prompt that was memorized finds its own entry.
    const [q] = await model.embed([samples[2]!.prefix], { layer: 5 });
    expect(db.entries.nearest(q!)).toMatchObject({ id: "m3" });
    expect(db.entries.nearest(q!)!.similarity).toBeCloseTo(1, 5);
  });

  it("broadcasts a single replacement and checks widths and counts", async () => {
    const model = fakeEmbeddingModel(8);
    const db = await buildHighRiskDb({ model, samples, layer: 1, replacements: { vectors: [new Float32Array(8).fill(0.5)] } });
    expect(db.replacements.map((r) => r[0])).toEqual([0.5, 0.5, 0.5]);
    await expect(buildHighRiskDb({ model, samples, layer: 1, replacements: { vectors: [new Float32Array(7)] } })).rejects.toMatchObject({ code: "DIM_MISMATCH" });
    await expect(buildHighRiskDb({ model, samples, layer: 1, replacements: { safeResponses: ["a", "b"] } })).rejects.toBeInstanceOf(PrivacyProbeError);
    await expect(buildHighRiskDb({ model, samples, layer: 1, replacements: { safeResponses: { m1: "x" } } })).rejects.toThrow(/no safe response for sample "m2"/);
    await expect(buildHighRiskDb({ model, samples: [], layer: 1, replacements: { vectors: [] } })).rejects.toThrow(/no samples/);
  });

  it("round-trips through one file", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "db", "high-risk.bin");
    const model = fakeEmbeddingModel(16);
    const db = await buildHighRiskDb({ model, samples, layer: 2, embed: "full", replacements: { safeResponses: ["安全回答一", "安全回答二", "安全回答三"] } });
    await saveHighRiskDb(file, db);
    const back = await loadHighRiskDb(file);
    expect(back.meta).toEqual(db.meta);
    expect(back.entries.ids).toEqual(["m1", "m2", "m3"]);
    expect(Array.from(back.entries.matrix())).toEqual(Array.from(db.entries.matrix()));
    expect(back.replacements.map((r) => Array.from(r))).toEqual(db.replacements.map((r) => Array.from(r)));
    expect(model.calls[0]!.inputs[0]).toBe(samples[0]!.prefix + samples[0]!.suffix);
  });
});
