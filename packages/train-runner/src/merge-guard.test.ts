import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fc, test } from "@fast-check/vitest";
import { repoRoot, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { dpoJob, loadJobFile, validateJob, type TrainerJob } from "./jobs.js";
import { ALPHA_STEPS_MAX, ALPHA_STEPS_WARN, checkJobPlan, checkMergeAlpha, countJsonlRows, plannedOptimizerSteps, type JobWarning } from "./merge-guard.js";
import { runJob } from "./run-job.js";

// A stand-in trainer package speaking the real event protocol (test/fake-trainer/sfmed_trainer).
const FAKE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test/fake-trainer");
const base = { model: "/ckpt/sft", outputDir: "/runs/dpo", train: "/data/pairs.jsonl" };
const merge = (alpha: number, extra: object = {}) => ({ method: "ondare" as const, p: 0.01, alpha, baseModel: "/ckpt/pt", ...extra });
const steps = (max_steps: number) => ({ trainOptions: { max_steps } });

function refusal(f: () => unknown): Error & Record<string, unknown> {
  try {
    f();
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error("accepted");
}

describe("online-merging α against the planned optimizer steps", () => {
  it("refuses α = 0.5 over 1,000 steps, saying what α does, the product and the official value", () => {
    const e = refusal(() => dpoJob({ ...base, ...steps(1000), onlineMerge: merge(0.5) }));
    expect(e).toMatchObject({ name: "JobConfigError", code: "alpha_steps", field: "optimizer.alpha", alpha: 0.5, plannedSteps: 1000, product: 500 });
    expect(e.message).toMatch(/^optimizer\.alpha: /);
    expect(e.message).toContain("0.5 × 1000");
    expect(e.message).toContain("= 500");
    expect(e.message).toContain("adds α·τ'");
    expect(e.message).toContain("every optimizer step");
    expect(e.message).toContain("independent of lr");
    expect(e.message).toContain("α = 1e-7 (with p = 0.01)");
    expect(e.message).toContain("allow_large_alpha");
  });

  it("passes the official α = 1e-7 without a warning", () => {
    const warnings: JobWarning[] = [];
    const job = dpoJob({ ...base, ...steps(1000), onlineMerge: merge(1e-7), onWarning: (w) => warnings.push(w) });
    expect(job.optimizer).toMatchObject({ name: "ondare", p: 0.01, alpha: 1e-7 });
    expect(warnings).toEqual([]);
    expect(() => validateJob(job)).not.toThrow();
  });

  it("defaults to the official p = 0.01 and α = 1e-7", () => {
    expect(dpoJob({ ...base, onlineMerge: { method: "onties", baseModel: "/ckpt/pt" } }).optimizer).toMatchObject({ p: 0.01, alpha: 1e-7 });
  });

  it("warns between the bounds and still builds the job", () => {
    const warnings: JobWarning[] = [];
    const job = dpoJob({ ...base, ...steps(1000), onlineMerge: merge(5e-6), onWarning: (w) => warnings.push(w) });
    expect(job.optimizer?.alpha).toBe(5e-6);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: "alpha_steps", field: "optimizer.alpha", plannedSteps: 1000 });
    expect(warnings[0]!.product).toBeCloseTo(5e-3);
    expect(warnings[0]!.message).toContain("independent of lr");
    expect(warnings[0]!.message).toContain(`above ${ALPHA_STEPS_WARN}`);
  });

  it("allowLargeAlpha / optimizer.allow_large_alpha overrides the refusal (with a warning)", () => {
    const warnings: JobWarning[] = [];
    const job = dpoJob({ ...base, ...steps(1000), onlineMerge: merge(0.5, { allowLargeAlpha: true }), onWarning: (w) => warnings.push(w) });
    expect(job.optimizer).toMatchObject({ alpha: 0.5, allow_large_alpha: true });
    expect(warnings.map((w) => w.product)).toEqual([500]);
    expect(warnings[0]!.message).toContain("Running anyway");
    expect(() => validateJob(job)).not.toThrow(); // trainer-py's schema knows the key
    // The same job without the key is refused by the check validateJob runs after the schema.
    const { allow_large_alpha: _a, ...opt } = job.optimizer!;
    expect(() => checkMergeAlpha({ ...job, optimizer: opt })).toThrow(expect.objectContaining({ name: "JobConfigError", field: "optimizer.alpha" }));
    expect(checkMergeAlpha(job)?.product).toBe(500);
  });

  it("draws the line exactly at the bounds", () => {
    const at = (alpha: number) => checkMergeAlpha({ ...dpoJob({ ...base, ...steps(1000) }), optimizer: { name: "ondare", alpha, base_model: "/b" } });
    expect(at(1e-6)).toBeUndefined(); // product 1e-3: not above the warning bound
    expect(at(1.001e-6)).toBeDefined();
    expect(at(1e-5)?.product).toBeCloseTo(ALPHA_STEPS_MAX); // at the maximum: a warning, not a refusal
    expect(() => at(1.001e-5)).toThrow(/above the limit 0\.01/);
  });

  it("leaves AdamW jobs, α = 0 and jobs of unknown length alone", () => {
    expect(checkMergeAlpha({ ...dpoJob({ ...base, ...steps(1000) }) })).toBeUndefined();
    expect(checkMergeAlpha(dpoJob({ ...base, ...steps(1000), onlineMerge: merge(0) }))).toBeUndefined();
    // No max_steps and no row count: the launch check decides.
    expect(dpoJob({ ...base, onlineMerge: merge(0.5) }).optimizer?.alpha).toBe(0.5);
  });

  it("plans steps from the row count, batch, accumulation and world size when max_steps is unset", () => {
    const job = dpoJob({ ...base, trainOptions: { epochs: 1, batch_size: 2, grad_accum: 16 }, onlineMerge: merge(1e-7) });
    // The 7B example: ≈54,000 selected pairs on 8 GPUs.
    expect(plannedOptimizerSteps(job, { datasetRows: 54_000, worldSize: 8 })).toBe(Math.ceil(54_000 / 256));
    expect(plannedOptimizerSteps({ ...job, train: { ...job.train, epochs: 2 } }, { datasetRows: 54_000, worldSize: 8 })).toBe(2 * 211);
    expect(plannedOptimizerSteps({ ...job, data: { train: "x", max_samples: 512 } }, { datasetRows: 54_000 })).toBe(16);
    expect(plannedOptimizerSteps({ ...job, data: { train: "x", eval_ratio: 0.5 } }, { datasetRows: 64 })).toBe(1);
    expect(plannedOptimizerSteps(job)).toBeUndefined();
    expect(() => dpoJob({ ...base, trainOptions: { batch_size: 1 }, datasetRows: 1000, onlineMerge: merge(0.5) })).toThrow(expect.objectContaining({ plannedSteps: 1000 }));
  });

  test.prop([fc.integer({ min: 0, max: 1e7 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 512 }), fc.double({ min: 0.1, max: 5, noNaN: true })])(
    "the plan never under-counts the trainer's steps and over-counts by at most one batch per epoch",
    (rows, bs, ga, world, epochs) => {
      const job = { ...dpoJob({ ...base, onlineMerge: merge(1e-7) }), train: { epochs, batch_size: bs, grad_accum: ga } };
      const planned = plannedOptimizerSteps(job, { datasetRows: rows, worldSize: world })!;
      // trainer-py's StepPlan: max(1, ceil(epochs * max(1, rows // per_step))).
      const trainer = Math.max(1, Math.ceil(epochs * Math.max(1, Math.floor(rows / (bs * ga * world)))));
      expect(planned).toBeGreaterThanOrEqual(trainer);
      expect(planned).toBeLessThanOrEqual(trainer + Math.ceil(epochs));
    },
  );

  it("validateJob runs the check after the schema, naming the file", () => {
    const job = dpoJob({ ...base, onlineMerge: merge(0.5) });
    job.train = { ...job.train, max_steps: 1000 };
    expect(() => validateJob(job, "jobs/dpo.yaml")).toThrow(expect.objectContaining({ name: "JobConfigError", file: "jobs/dpo.yaml", message: expect.stringMatching(/^jobs\/dpo\.yaml: optimizer\.alpha: /) }));
    const warnings: JobWarning[] = [];
    job.optimizer = { ...job.optimizer, alpha: 2e-6 };
    validateJob(job, undefined, { onWarning: (w) => warnings.push(w) });
    expect(warnings.map((w) => w.plannedSteps)).toEqual([1000]);
    // Unknown length: the schema check alone; with the row count, the plan check too.
    job.train = { ...job.train, max_steps: undefined } as TrainerJob["train"];
    delete job.train!.max_steps;
    job.optimizer = { ...job.optimizer, alpha: 0.5 };
    expect(() => validateJob(job)).not.toThrow();
    expect(() => validateJob(job, undefined, { datasetRows: 100 })).toThrow(/0\.5 × 100 /);
  });
});

describe("the launch-time check", () => {
  async function pairsFile(n: number): Promise<string> {
    const dir = await tempDir();
    const file = path.join(dir, "pairs.jsonl");
    const line = JSON.stringify({ id: "x", prompt: [{ role: "user", content: "头痛怎么办？" }], chosen: "多休息。", rejected: "不知道。" });
    await writeFile(file, Array.from({ length: n }, (_, i) => (i % 50 === 0 ? `${line}\n\n` : `${line}\n`)).join(""));
    return file;
  }

  it("counts the records of data.train (blank lines skipped)", async () => {
    expect(await countJsonlRows(await pairsFile(300))).toBe(300);
  });

  it("plans from the data file and the world size", async () => {
    const train = await pairsFile(300);
    const job = dpoJob({ ...base, train, trainOptions: { batch_size: 1 }, onlineMerge: merge(1e-4) });
    await expect(checkJobPlan(job)).rejects.toMatchObject({ name: "JobConfigError", plannedSteps: 300 });
    job.optimizer = { ...job.optimizer, alpha: 1e-5 };
    expect((await checkJobPlan(job)).map((w) => w.plannedSteps)).toEqual([300]);
    expect(await checkJobPlan(job, { worldSize: 8 })).toEqual([]); // 38 steps
    // A data file that does not exist yet: nothing to plan from.
    expect(await checkJobPlan({ ...job, data: { train: path.join(path.dirname(train), "missing.jsonl") }, optimizer: { ...job.optimizer, alpha: 0.5 } })).toEqual([]);
  });

  it("runJob refuses before creating anything, and reports warnings through onWarning", async () => {
    const train = await pairsFile(300);
    const out = path.join(path.dirname(train), "run");
    const job = dpoJob({ ...base, train, outputDir: out, trainOptions: { batch_size: 1 }, onlineMerge: merge(0.5) });
    await expect(runJob(job, { python: "/nonexistent/python" })).rejects.toMatchObject({ name: "JobConfigError", field: "optimizer.alpha", product: 150 });
    expect(existsSync(out)).toBe(false);
    // Four processes per node on two nodes: 38 steps, 0.5 × 38 still refused; a small α passes with a warning.
    const launch = { launcher: "torchrun" as const, nprocPerNode: 4, nnodes: 2 };
    await expect(runJob(job, { python: "/nonexistent/python", launch })).rejects.toMatchObject({ plannedSteps: 38 });
  });

  it("runJob passes a warning to onWarning and runs the job", async () => {
    const train = await pairsFile(300);
    const job = dpoJob({ ...base, train, outputDir: path.join(path.dirname(train), "run"), trainOptions: { batch_size: 1 }, onlineMerge: merge(1e-5) });
    const warnings: JobWarning[] = [];
    const python = process.env.SFMED_PYTHON ?? "python3";
    const summary = await runJob(job, { python, env: { PYTHONPATH: FAKE }, onWarning: (w) => warnings.push(w) });
    expect(summary.status).toBe("completed");
    expect(warnings.map((w) => [w.field, w.plannedSteps])).toEqual([["optimizer.alpha", 300]]);
  });
});

describe("the example jobs", () => {
  const ex = (name: string) => path.join(repoRoot, "examples", name, "jobs", "dpo.yaml");
  const sets = { model: "/m", output_dir: "/o", data: { train: "/missing.jsonl" }, optimizer: { base_model: "/b", sft_model: "/m" } };

  it.skipIf(!existsSync(ex("mini-sfmed")))("mini-sfmed stays below the warning bound and still merges (α > 0)", async () => {
    const job = await loadJobFile(ex("mini-sfmed"), sets);
    const n = plannedOptimizerSteps(job)!;
    expect(job.optimizer?.alpha).toBeGreaterThan(0);
    expect(job.optimizer!.alpha! * n).toBeLessThanOrEqual(ALPHA_STEPS_WARN);
  });

  it.skipIf(!existsSync(ex("qwen2.5-7b")))("qwen2.5-7b uses the official p and α, below the warning bound for the paper's data on 8 GPUs", async () => {
    const job = await loadJobFile(ex("qwen2.5-7b"), sets);
    expect(job.optimizer).toMatchObject({ name: "ondare", p: 0.01, alpha: 1e-7 });
    // 60,000 annotated prompts (§3.3) is an upper bound on the pairs left after selection.
    expect(checkMergeAlpha(job, { datasetRows: 60_000, worldSize: 8 })).toBeUndefined();
  });
});
