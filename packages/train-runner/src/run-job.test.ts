import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import type { TrainerEvent } from "./events.js";
import { resumeJob, runJob } from "./run-job.js";
import { startServer } from "./server.js";

// A stand-in trainer package speaking the real event protocol (test/fake-trainer/sfmed_trainer).
const FAKE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test/fake-trainer");
const env = { PYTHONPATH: FAKE };
const python = process.env.SFMED_PYTHON ?? "python3";

describe("runJob with a trainer speaking the event protocol", () => {
  it("streams events, logs stderr and stray stdout, and summarises the run", async () => {
    const dir = await tempDir();
    const events: TrainerEvent[] = [];
    const summary = await runJob({ stage: "sft", output_dir: dir }, { python, env, onEvent: (e) => events.push(e) });
    expect(summary.status).toBe("completed");
    expect(events.map((e) => e.event)).toEqual(["start", "step", "step", "step", "step", "step", "step", "checkpoint", "done"]);
    expect(summary.lastStep?.step).toBe(6);
    expect(summary.bestCheckpoint).toBe(path.join(dir, "checkpoint-6"));
    expect(summary.metrics.train_loss).toBeCloseTo(2 / 6);
    const log = await readFile(summary.logPath, "utf8");
    expect(log).toContain("loading tiny model");
    expect(log).toContain("[stdout] a stray print on stdout");
    const saved = (await readFile(summary.eventsPath, "utf8")).trim().split("\n");
    expect(saved).toHaveLength(events.length);
    expect(JSON.parse(await readFile(summary.jobPath, "utf8"))).toMatchObject({ stage: "sft", output_dir: dir });
  });

  it("throws a TrainerRunError holding the trainer's error event and the log path", async () => {
    const dir = await tempDir();
    const err = await runJob({ stage: "dpo", output_dir: dir, fake: "fail" }, { python, env }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "TrainerRunError", exitCode: 1, logPath: path.join(dir, "trainer.log") });
    expect((err as { event: { message: string } }).event.message).toBe("data file missing: x.jsonl");
    expect(String((err as Error).message)).toContain("ValueError: data file missing");
  });

  it("reports a crash without events as a failure with the exit code", async () => {
    const dir = await tempDir();
    await expect(runJob({ stage: "pt", output_dir: dir, fake: "crash" }, { python, env })).rejects.toMatchObject({
      name: "TrainerRunError",
      exitCode: 3,
    });
  });

  it("runs validation before starting anything", async () => {
    const dir = await tempDir();
    const validate = () => {
      throw Object.assign(new Error("bad"), { name: "JobValidationError" });
    };
    await expect(runJob({ stage: "pt", output_dir: path.join(dir, "x") }, { python, env, validate })).rejects.toMatchObject({ name: "JobValidationError" });
    expect(existsSync(path.join(dir, "x"))).toBe(false);
  });

  it("aborting sends SIGINT, resolves as interrupted with a checkpoint, and resume continues from it", async () => {
    const dir = await tempDir();
    const ac = new AbortController();
    const first = await runJob(
      { stage: "sft", output_dir: dir, fake: "slow" },
      { python, env, signal: ac.signal, onEvent: (e) => e.event === "step" && (e as { step: number }).step === 2 && ac.abort() },
    );
    expect(first.status).toBe("interrupted");
    expect(first.lastCheckpoint).toMatch(/checkpoint-[23]$/);
    const steps: number[] = [];
    const second = await resumeJob(dir, { python, env, onEvent: (e) => e.event === "step" && steps.push((e as { step: number }).step) });
    expect(second.status).toBe("completed");
    const from = Number(first.lastCheckpoint!.split("-").pop());
    expect(second.metrics.start_step).toBe(from);
    expect(steps[0]).toBe(from + 1);
    expect(steps.at(-1)).toBe(6);
  });
});

describe("startServer", () => {
  it("waits for the ready event, checks /v1/models and closes", async () => {
    const srv = await startServer("/nonexistent-checkpoint", { python, env });
    expect(srv.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const models = (await (await fetch(`${srv.baseURL}/models`)).json()) as { data: unknown[] };
    expect(models.data).toHaveLength(1);
    await srv.close();
    await expect(fetch(`${srv.baseURL}/models`)).rejects.toThrow();
  });

  it("fails with a ServerStartError when serve exits early", async () => {
    await expect(startServer("/x", { python, env, extraArgs: ["--fail"] })).rejects.toMatchObject({ name: "ServerStartError" });
  });
});
