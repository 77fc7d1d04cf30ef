import { readFileSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { samplePath } from "@sfmed/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StepEvent, TrainerEvent } from "./events.js";
import { dpoJob, ptJob, rmJob, rmScoreJob, sftJob, validateJob } from "./jobs.js";
import { accelerateConfig } from "./launchers.js";
import { resumeJob, runJob } from "./run-job.js";
import { createTinyModel } from "./tiny-model.js";
import { ensureTrainerEnv, trainerPythonEnv, type TrainerEnv } from "./trainer-env.js";

// The real trainer on a tiny model, driven from Node: the trainer environment is built by `npm test` (and CI)
// before vitest runs; a clear TrainerEnvError here means it is missing.
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

function sampleData() {
  const role: Record<string, string> = { human: "user", gpt: "assistant" };
  const sft = readFileSync(samplePath("medicalgpt/medical_sft_1K_format.jsonl"), "utf8").trim().split("\n").slice(0, 24).map((l, i) => ({
    id: `sft-${i}`,
    messages: (JSON.parse(l) as { conversations: Array<{ from: string; value: string }> }).conversations.map((c) => ({ role: role[c.from]!, content: c.value.slice(0, 200) })),
  }));
  const pairs = readFileSync(samplePath("medicalgpt/test.json"), "utf8").trim().split("\n").slice(0, 24).map((l, i) => {
    const r = JSON.parse(l) as { question: string; response_chosen: string; response_rejected: string };
    return { id: `pair-${i}`, prompt: [{ role: "user", content: r.question.slice(0, 120) }], chosen: r.response_chosen.slice(0, 160), rejected: r.response_rejected.slice(0, 160) };
  });
  const docs = readFileSync(samplePath("medicalgpt/medical_corpus.txt"), "utf8").split("\n").filter((t) => t.trim()).slice(0, 40).map((text, i) => ({ id: `doc-${i}`, text }));
  return { sft, pairs, docs };
}

describe("train-runner driving trainer-py (tiny model, CPU)", () => {
  let env: TrainerEnv;
  let dir: string;
  let files: { sft: string; pairs: string; docs: string };
  let base: string;
  const tiny = { device: "cpu" as const, cutoffLen: 96 };
  const quick = { max_steps: 3, batch_size: 2, logging_steps: 1, warmup_ratio: 0 };

  beforeAll(async () => {
    env = await ensureTrainerEnv();
    dir = await (async () => {
      const { mkdtemp } = await import("node:fs/promises");
      const { tmpdir } = await import("node:os");
      return mkdtemp(path.join(tmpdir(), "sfmed-chain-"));
    })();
    const d = sampleData();
    files = { sft: path.join(dir, "sft.jsonl"), pairs: path.join(dir, "pairs.jsonl"), docs: path.join(dir, "docs.jsonl") };
    await writeFile(files.sft, jsonl(d.sft));
    await writeFile(files.pairs, jsonl(d.pairs));
    await writeFile(files.docs, jsonl(d.docs));
    base = await createTinyModel(path.join(dir, "base"), { python: env.python, env: trainerPythonEnv(env), corpus: [files.sft, files.pairs, files.docs], vocabSize: 400, hidden: 32 });
  }, 600_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs pt → sft → rm (3 models) → score → dpo with ondare", async () => {
    const run = (job: Parameters<typeof runJob>[0], onEvent?: (e: TrainerEvent) => void) =>
      runJob(job, { python: env.python, env: trainerPythonEnv(env), validate: (j) => validateJob(j), ...(onEvent ? { onEvent } : {}) });
    const losses: number[] = [];
    const pt = await run(ptJob({ ...tiny, model: base, train: files.docs, outputDir: path.join(dir, "pt"), trainOptions: quick }), (e) => e.event === "step" && losses.push((e as StepEvent).loss!));
    expect(pt.status).toBe("completed");
    expect(losses.length).toBe(3);
    expect(losses.every(Number.isFinite)).toBe(true);

    const sft = await run(sftJob({ ...tiny, model: pt.model!, train: files.sft, outputDir: path.join(dir, "sft"), trainOptions: quick }));
    expect(sft.model).toBeTruthy();
    expect(JSON.parse(await readFile(path.join(sft.model!, "config.json"), "utf8")).model_type).toBe("qwen2");

    const rm = await run(rmJob({ ...tiny, model: sft.model!, train: files.pairs, outputDir: path.join(dir, "rm"), seeds: [1, 2, 3], trainOptions: quick }));
    expect(rm.models).toHaveLength(3);

    const scoresFile = path.join(dir, "scores.jsonl");
    await run(rmScoreJob({ model: sft.model!, models: rm.models!, input: files.pairs, output: scoresFile, outputDir: path.join(dir, "rm-score") }));
    const scored = (await readFile(scoresFile, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { scores: { chosen: number[]; rejected: number[] } });
    expect(scored).toHaveLength(24);
    expect(scored[0]!.scores.chosen).toHaveLength(3);
    // Three seeds, three different models.
    expect(new Set(scored[0]!.scores.chosen.map((x) => x.toFixed(6))).size).toBe(3);

    const dpo = await run(
      dpoJob({ ...tiny, model: sft.model!, train: files.pairs, outputDir: path.join(dir, "dpo"), trainOptions: quick, onlineMerge: { method: "ondare", p: 0.5, alpha: 1e-4, baseModel: pt.model! } }),
    );
    expect(dpo.status).toBe("completed");
    expect(dpo.lastStep?.step).toBe(3);
  }, 900_000);

  it("cancels with a checkpoint and resumes to the same end", async () => {
    const out = path.join(dir, "sft-cancel");
    const job = sftJob({ ...tiny, model: base, train: files.sft, outputDir: out, trainOptions: { ...quick, max_steps: 40, save_steps: 1000 } });
    const ac = new AbortController();
    const first = await runJob(job, { python: env.python, env: trainerPythonEnv(env), signal: ac.signal, onEvent: (e) => e.event === "step" && (e as StepEvent).step === 2 && ac.abort() });
    expect(first.status).toBe("interrupted");
    expect(first.lastCheckpoint).toMatch(/checkpoint-\d+$/);
    const steps: number[] = [];
    const second = await resumeJob(out, { python: env.python, env: trainerPythonEnv(env), onEvent: (e) => e.event === "step" && steps.push((e as StepEvent).step) });
    expect(second.status).toBe("completed");
    expect(steps[0]).toBe(Number(first.lastCheckpoint!.split("-").pop()) + 1);
    expect(steps.at(-1)).toBe(40);
  }, 900_000);

  it("runs a 2-process job under torchrun (gloo on CPU)", async () => {
    const starts: TrainerEvent[] = [];
    const r = await runJob(sftJob({ ...tiny, model: base, train: files.sft, outputDir: path.join(dir, "sft-ddp"), trainOptions: { ...quick, max_steps: 2 } }), {
      python: env.python,
      env: { ...trainerPythonEnv(env), OMP_NUM_THREADS: "1" },
      launch: { launcher: "torchrun", nprocPerNode: 2, masterPort: 29000 + Math.floor(Math.random() * 1000) },
      onEvent: (e) => e.event === "start" && starts.push(e),
    });
    expect(r.status).toBe("completed");
    expect(r.lastStep?.step).toBe(2);
    expect(starts[0]?.world_size).toBe(2);
  }, 900_000);

  it("runs a 2-process FSDP job under accelerate", async () => {
    const out = path.join(dir, "sft-fsdp");
    const { mkdir, writeFile: write } = await import("node:fs/promises");
    await mkdir(out, { recursive: true });
    const cfg = path.join(out, "accelerate.yaml");
    const { stringify } = await import("yaml");
    await write(cfg, stringify(accelerateConfig({ strategy: "fsdp", nprocPerNode: 2 })));
    const starts: TrainerEvent[] = [];
    const r = await runJob(sftJob({ ...tiny, model: base, train: files.sft, outputDir: out, trainOptions: { ...quick, max_steps: 2 } }), {
      python: env.python,
      env: { ...trainerPythonEnv(env), OMP_NUM_THREADS: "1" },
      launch: { launcher: "accelerate", nprocPerNode: 2, accelerateConfigPath: cfg, masterPort: 30000 + Math.floor(Math.random() * 1000) },
      onEvent: (e) => e.event === "start" && starts.push(e),
    });
    expect(r.status).toBe("completed");
    expect(starts[0]).toMatchObject({ world_size: 2, strategy: "fsdp" });
    expect(JSON.parse(await readFile(path.join(r.model!, "config.json"), "utf8")).model_type).toBe("qwen2");
  }, 900_000);
});
