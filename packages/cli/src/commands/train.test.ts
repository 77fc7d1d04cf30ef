import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";
import { applySets } from "./train.js";

const JOB = "version: 1\nstage: sft\nmodel: ckpt\noutput_dir: runs/sft\ndata:\n  train: train.jsonl\n";

describe("sfmed train", () => {
  it("rejects a bad job file before starting, naming file and key", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "job.yaml");
    await writeFile(file, JOB + "train:\n  lr: -1\n");
    const r = await capture(["train", "sft", "--config", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: train.lr`);
  });

  it("refuses to run a job under the wrong stage", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "job.yaml");
    await writeFile(file, JOB);
    const r = await capture(["train", "dpo", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is a "sft" job; run it with: sfmed train sft/);
  });

  it("says how to fix a missing Python", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "job.yaml");
    await writeFile(file, JOB);
    const r = await capture(["train", "sft", "--config", file, "--python", path.join(dir, "no-python")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TrainerEnvError: no usable Python.*\n\s+fix: install Python/);
  });

  it("writes a Slurm script for a multi-node job", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "job.yaml");
    await writeFile(file, JOB);
    const script = path.join(dir, "run.sbatch");
    const r = await capture(["train", "slurm", "--config", file, "--nodes", "2", "--gpus-per-node", "8", "-o", script, "--time", "12:00:00"]);
    expect(r.code).toBe(0);
    const text = await readFile(script, "utf8");
    expect(text).toContain("#SBATCH --nodes=2");
    expect(text).toContain("--nproc_per_node=8");
    expect(text).toContain(path.join(dir, "runs/sft/job.json"));
    expect(JSON.parse(await readFile(path.join(dir, "runs/sft/job.json"), "utf8")).data.train).toBe(path.join(dir, "train.jsonl"));
  });

  it("asks for several processes before sharding", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "job.yaml");
    await writeFile(file, JOB);
    const r = await capture(["train", "sft", "--config", file, "--distributed", "fsdp", "--python", "python3"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs several processes/);
  });

  it("--set overrides keys deeply and validates them", async () => {
    expect(applySets({ data: { train: "a", eval: "b" } }, ["data.train=c", "train.max_steps=5", 'rm.models=["x","y"]'])).toEqual({
      data: { train: "c", eval: "b" },
      train: { max_steps: 5 },
      rm: { models: ["x", "y"] },
    });
    const dir = await tempDir();
    const file = path.join(dir, "job.yaml");
    await writeFile(file, JOB);
    const r = await capture(["train", "sft", "--config", file, "--set", "train.max_steps=zero"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("train.max_steps");
    expect((await capture(["train", "sft", "--config", file, "--set", "novalue"])).code).toBe(2);
  });
});
