import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { repoRoot } from "@sfmed/test-utils";
import { PAPER_DEFAULTS, validateJob } from "@sfmed/train-runner";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { dpoJob } from "./dpo-job.js";

const SCHEMA = path.join(repoRoot, "trainer-py", "sfmed_trainer", "job.schema.json");
const base = { sftModel: "ckpt/sft", baseModel: "ckpt/base", train: "data/pairs.jsonl", outputDir: "runs/dpo" };

describe("dpoJob", () => {
  it("follows the official recipe by default", () => {
    const job = dpoJob(base);
    expect(job).toMatchObject({
      version: 1,
      stage: "dpo",
      model: "ckpt/sft",
      optimizer: { name: "ondare", p: 0.01, alpha: 1e-7, base_model: "ckpt/base", sft_model: "ckpt/sft", clip_tau: 1 },
      dpo: { beta: 0.1, loss_type: "sigmoid", ref_model: "ckpt/sft" },
      train: { lr: 1e-6, epochs: 2, warmup_steps: 100, scheduler: "cosine", weight_decay: 0 },
    });
  });

  it("is train-runner's DPO job: its defaults underneath, the online-merging recipe on top", () => {
    const job = dpoJob({ ...base, optimizer: "onties", p: 0.2, maskSeed: 5, warmupSteps: 0, precomputeRef: true });
    // Keys this package does not set come from train-runner's builder and its paper defaults.
    expect(job.train.max_grad_norm).toBe(PAPER_DEFAULTS.train.max_grad_norm);
    expect(job.cutoff_len).toBe(PAPER_DEFAULTS.cutoff_len);
    // The recipe's own: warm-up in steps only (0 means none, not the paper's ratio), no dropout.
    expect(job.train).toMatchObject({ warmup_steps: 0, warmup_ratio: 0, dropout: 0 });
    expect(job.optimizer).toEqual({ name: "onties", betas: [0.9, 0.999], eps: 1e-8, p: 0.2, alpha: 1e-7, base_model: "ckpt/base", sft_model: "ckpt/sft", clip_tau: 1, seed: 5 });
    expect(job.dpo).toEqual({ beta: 0.1, loss_type: "sigmoid", label_smoothing: 0, ref_model: "ckpt/sft", precompute_ref: true });
    expect(() => validateJob(job)).not.toThrow();
  });

  it("rejects values the trainer would refuse", () => {
    expect(() => dpoJob({ ...base, p: 0 })).toThrow(expect.objectContaining({ name: "MergeInputError", field: "p" }));
    expect(() => dpoJob({ ...base, alpha: 2 })).toThrow(expect.objectContaining({ field: "alpha" }));
    expect(() => dpoJob({ ...base, baseModel: "" })).toThrow(expect.objectContaining({ field: "baseModel" }));
    expect(() => dpoJob({ ...base, labelSmoothing: 0.5 })).toThrow(expect.objectContaining({ field: "labelSmoothing" }));
    expect(() => dpoJob({ ...base, batchSize: 1.5 })).toThrow(expect.objectContaining({ field: "batchSize" }));
  });

  describe.skipIf(!existsSync(SCHEMA))("against trainer-py's job.schema.json", () => {
    const validate = existsSync(SCHEMA) ? new Ajv2020({ strict: false }).compile(JSON.parse(readFileSync(SCHEMA, "utf8")) as object) : undefined;
    test.prop([
      fc.record(
        {
          optimizer: fc.constantFrom("ondare" as const, "onties" as const),
          p: fc.double({ min: 1e-6, max: 1, noNaN: true }),
          alpha: fc.double({ min: 0, max: 1, noNaN: true }),
          lossType: fc.constantFrom("sigmoid" as const, "ipo" as const, "hinge" as const, "robust" as const),
          labelSmoothing: fc.double({ min: 0, max: 0.49, noNaN: true }),
          rescale: fc.constantFrom("inverse_keep" as const, "none" as const, "l1" as const),
          maskSeed: fc.nat(1000),
          maxSteps: fc.integer({ min: 1, max: 100 }),
          eval: fc.constant("data/eval.jsonl"),
          precomputeRef: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
    ])("every job it builds validates", (extra) => {
      const job = dpoJob({ ...base, ...extra });
      const ok = validate!(job);
      expect(validate!.errors ?? [], JSON.stringify(job)).toEqual([]);
      expect(ok).toBe(true);
      // The schema is strict: a job with a stray key must not pass (guards against a vacuous validator).
      expect(validate!({ ...job, optimizer: { ...job.optimizer, reserve_p: 0.1 } })).toBe(false);
    });
  });
});
