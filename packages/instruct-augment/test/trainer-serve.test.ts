// Real augmentation run against `python -m sfmed_trainer serve` with a tiny random checkpoint built here. Runs only
// where trainer-py has `serve` and its virtual environment exists (`npm run trainer-env`); skipped otherwise.
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTinyCheckpoints, startServe, trainerPython } from "@sfmed/test-utils";
import { createOpenAIModel, type OpenAIModel } from "@sfmed/llm";
import { augmentInstructions } from "../src/index.js";

const python = trainerPython();

describe.skipIf(!python)("trainer-py serve (real server, tiny model)", () => {
  let proc: ChildProcess | undefined;
  let workDir = "";
  let model: OpenAIModel;

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), "sfmed-augment-serve-"));
    await buildTinyCheckpoints(python!, workDir);
    const s = await startServe(python!, path.join(workDir, "lm"));
    proc = s.proc;
    model = createOpenAIModel({ baseURL: s.baseURL, model: s.id, timeoutMs: 60_000, retry: { maxRetries: 1 }, cacheDir: path.join(workDir, "cache") });
  }, 180_000);

  afterAll(async () => {
    proc?.kill("SIGTERM");
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("runs augmentation steps against the real server, checkpoints them and re-runs from the cache", async () => {
    const ckpt = path.join(workDir, "state.json");
    const seeds = ["高血压患者在饮食上要注意什么？", "糖尿病患者如何监测血糖？", "头痛伴发热需要去医院吗？", "孕妇感冒了可以吃药吗？"];
    const opts = { model, seeds, steps: 2, shots: 1, chat: { temperature: 0, maxTokens: 24 } };
    const r = await augmentInstructions({ ...opts, checkpointPath: ckpt });
    expect(r.stoppedBy).toBe("steps");
    expect(r.report.usage.calls).toBe(2);
    expect(r.report.usage.promptTokens).toBeGreaterThan(0);
    expect(r.report.accepted + Object.values(r.report.rejected).reduce((a, b) => a + b, 0)).toBe(r.report.candidates);
    expect(JSON.parse(await readFile(ckpt, "utf8"))).toMatchObject({ step: 2 });
    const again = await augmentInstructions(opts);
    expect(again.report.usage).toMatchObject({ calls: 2, cachedCalls: 2 });
    expect(again.instructions).toEqual(r.instructions);
  }, 120_000);
});
