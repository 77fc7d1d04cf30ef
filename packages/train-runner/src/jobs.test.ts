import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { dpoJob, loadJobFile, PAPER_DEFAULTS, ptJob, rmJob, rmScoreJob, sftJob, validateJob } from "./jobs.js";

const base = { model: "/ckpt/base", outputDir: "/runs/x", train: "/data/train.jsonl" };

describe("job builders", () => {
  it("produce jobs trainer-py's schema accepts, with the paper's defaults", () => {
    const jobs = [
      ptJob({ ...base, general: "/data/general.jsonl" }),
      sftJob(base),
      rmJob({ ...base, seeds: [1, 2, 3] }),
      rmScoreJob({ model: "/ckpt/base", models: ["/rm/0", "/rm/1"], input: "/p.jsonl", output: "/s.jsonl", outputDir: "/runs/s" }),
      dpoJob({ ...base, onlineMerge: { method: "ondare", p: 0.3, alpha: 1e-4, baseModel: "/ckpt/base" } }),
    ];
    for (const j of jobs) expect(() => validateJob(j)).not.toThrow();
    const sft = sftJob(base);
    expect(sft.cutoff_len).toBe(2048);
    expect(sft.train).toMatchObject({ scheduler: "cosine", dropout: 0.1, bf16: "auto" });
    expect(sft.optimizer?.name).toBe("adamw");
    expect(rmJob({ ...base, seeds: [1, 2, 3] }).rm?.num_models).toBe(3);
    expect(dpoJob({ ...base, onlineMerge: { method: "onties", p: 0.3, alpha: 1e-4, baseModel: "/b" } }).optimizer).toMatchObject({ name: "onties", p: 0.3, alpha: 1e-4, base_model: "/b", sft_model: "/ckpt/base" });
  });

  it("dpoJob carries every online-merging option into the optimizer block, and nothing it was not given", () => {
    const full = dpoJob({
      ...base,
      precomputeRef: true,
      onlineMerge: { method: "ondare", p: 0.01, alpha: 1e-7, baseModel: "/b", sftModel: "/s", rescale: "l1", clipTau: 0.5, seed: 3, betas: [0.8, 0.99], eps: 1e-6 },
    });
    expect(() => validateJob(full)).not.toThrow();
    expect(full.optimizer).toEqual({ name: "ondare", betas: [0.8, 0.99], eps: 1e-6, p: 0.01, alpha: 1e-7, base_model: "/b", sft_model: "/s", rescale: "l1", clip_tau: 0.5, seed: 3 });
    expect(full.dpo?.precompute_ref).toBe(true);
    const bare = dpoJob({ ...base, onlineMerge: { method: "onties", p: 0.3, alpha: 1e-4, baseModel: "/b" } });
    expect(Object.keys(bare.optimizer!).sort()).toEqual(["alpha", "base_model", "name", "p", "sft_model"]);
    expect(bare.dpo).not.toHaveProperty("precompute_ref");
  });

  it("ptJob mixes the general corpus by tokens at the paper's share unless told otherwise", () => {
    const pt = ptJob({ ...base, general: "/data/general.jsonl" });
    expect(pt.pt).toEqual({ general: "/data/general.jsonl", general_ratio: PAPER_DEFAULTS.pt.general_ratio, general_ratio_unit: "tokens" });
    // Table 1: 143.5 (general) and 129.9 (medical) ten-million-token units.
    expect(Math.abs(PAPER_DEFAULTS.pt.general_ratio - 143.5 / (143.5 + 129.9))).toBeLessThan(0.01);
    expect(() => validateJob(pt)).not.toThrow();
    const docs = ptJob({ ...base, general: "/g.jsonl", generalRatio: 0.2, generalRatioUnit: "documents" });
    expect(docs.pt).toEqual({ general: "/g.jsonl", general_ratio: 0.2, general_ratio_unit: "documents" });
    expect(() => validateJob(docs)).not.toThrow();
    expect(() => ptJob({ ...base, general: "/g.jsonl", generalRatio: 1 })).toThrow(expect.objectContaining({ name: "JobConfigError", field: "pt.general_ratio" }));
    expect(ptJob(base).pt).toBeUndefined();
  });

  it("every training stage defaults to the paper's dropout 0.1; the official DPO script's 0 is an override", () => {
    for (const j of [ptJob(base), sftJob(base), rmJob(base), dpoJob(base)]) expect(j.train?.dropout).toBe(0.1);
    expect(dpoJob({ ...base, trainOptions: { dropout: 0 } }).train?.dropout).toBe(0);
  });

  test.prop([fc.double({ min: 1e-7, max: 1e-2, noNaN: true }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 8, max: 8192 })])(
    "any sensible hyper-parameters validate",
    (lr, batch, cutoff) => {
      expect(() => validateJob(sftJob({ ...base, cutoffLen: cutoff, trainOptions: { lr, batch_size: batch } }))).not.toThrow();
    },
  );

  it("rejects bad jobs naming the key path", () => {
    const bad = (j: unknown) => {
      try {
        validateJob(j);
      } catch (e) {
        return e as Error & { path: string };
      }
      throw new Error("accepted a bad job");
    };
    expect(bad({ ...sftJob(base), lernrate: 1 })).toMatchObject({ name: "JobValidationError", path: "lernrate" });
    expect(bad({ ...sftJob(base), train: { lr: -1 } }).path).toBe("train.lr");
    expect(bad({ ...sftJob(base), optimizer: { name: "sgd" } }).message).toMatch(/optimizer\.name: must be one of/);
    const { data: _d, ...noData } = sftJob(base);
    expect(bad(noData).path).toBe("data");
  });
});

describe("loadJobFile", () => {
  it("reads YAML, validates, and resolves paths against the file's folder", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "sft.yaml");
    await writeFile(file, "version: 1\nstage: sft\nmodel: ckpt/base\noutput_dir: runs/sft\ndata:\n  train: data/train.jsonl\ntrain:\n  max_steps: 5\n");
    const job = await loadJobFile(file);
    expect(job.model).toBe(path.join(dir, "ckpt/base"));
    expect(job.data?.train).toBe(path.join(dir, "data/train.jsonl"));
    expect(job.train?.max_steps).toBe(5);
  });

  it("names the file and key of a bad job, and of broken YAML", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "bad.yaml");
    await writeFile(file, "version: 1\nstage: sft\nmodel: m\noutput_dir: o\ndata:\n  train: t\ntrain:\n  epochs: zero\n");
    await expect(loadJobFile(file)).rejects.toThrow(`${file}: train.epochs: must be number`);
    await writeFile(file, "version: 1\nstage: [sft\n");
    await expect(loadJobFile(file)).rejects.toMatchObject({ name: "JobValidationError", message: expect.stringContaining("not valid YAML") });
  });
});

it("PAPER_DEFAULTS carry the recipe's dropout", () => {
  expect(PAPER_DEFAULTS.train.dropout).toBe(0.1);
});
