// End to end against a real model: a tiny Qwen2 built and overfitted by trainer-py on a few dialogues, served by
// `python -m sfmed_trainer serve`. The probe must find the trained dialogues and not the held-out ones, and the gate
// must lower their leak rate. Needs the trainer venv (`npm run trainer-env`); opt in with SFMED_TRAINER_TESTS=1
// because training on a CPU takes a while.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { createOpenAIModel } from "@sfmed/llm";
import { readSample, repoRoot, tempDir } from "@sfmed/test-utils";
import { describe, expect, it, onTestFinished } from "vitest";
import { buildHighRiskDb, echoTokenizer, evaluateGate, gateFileFromDb, probeMemorization, toProbeSample, writeGateFile, type ProbeSample } from "../src/index.js";

const trainerDir = path.join(repoRoot, "trainer-py");

/** The venv ensure-env.sh would build, if it is already built (tests never build it). */
function trainerPython(): string | undefined {
  const lock = path.join(trainerDir, "requirements.lock");
  if (!existsSync(lock)) return undefined;
  const hash = createHash("sha256").update(readFileSync(lock)).digest("hex").slice(0, 16);
  const venv = process.env.SFMED_TRAINER_VENV ?? path.join(homedir(), ".cache", "sfmed", `trainer-venv-${hash}`);
  return existsSync(path.join(venv, `.sfmed-lock-${hash}`)) ? path.join(venv, "bin", "python") : undefined;
}

const python = trainerPython();
const enabled = Boolean(python) && process.env.SFMED_TRAINER_TESTS === "1";
const env = { ...process.env, PYTHONPATH: trainerDir, OMP_NUM_THREADS: "2", PYTHONUNBUFFERED: "1" };

type Event = { event: string; [k: string]: unknown };

/** Run a trainer command to completion and return its JSON events. */
function runPython(args: string[]): Promise<Event[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(python!, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${args.join(" ")} exited ${code}: ${err.slice(-2000)}`));
      resolve(out.split("\n").filter((l) => l.trim().startsWith("{")).map((l) => JSON.parse(l) as Event));
    });
  });
}

/** Start `serve` and resolve with its URL once it reports `ready`; stopped when the test ends. */
function serve(checkpoint: string, gate?: string): Promise<string> {
  const p: ChildProcess = spawn(python!, ["-m", "sfmed_trainer", "serve", checkpoint, "--name", "tiny", ...(gate ? ["--gate", gate] : [])], { env, stdio: ["ignore", "pipe", "pipe"] });
  onTestFinished(() => void p.kill("SIGTERM"));
  let err = "";
  p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    createInterface({ input: p.stdout! }).on("line", (line) => {
      const e = JSON.parse(line) as Event;
      if (e.event === "ready") resolve(String(e.url));
      if (e.event === "error") reject(new Error(`serve: ${JSON.stringify(e)}`));
    });
    p.on("close", (code) => reject(new Error(`serve exited ${code}: ${err.slice(-2000)}`)));
  });
}

interface ShareGpt {
  conversations: Array<{ from: string; value: string }>;
}

describe.runIf(enabled)("tiny real model (trainer-py)", () => {
  it("finds the overfitted dialogues, not held-out ones, and the gate lowers their leak rate", { timeout: 600_000 }, async () => {
    const dir = await tempDir();
    // Short real dialogues: question cut to 24 characters, answer to 32.
    const dialogues = readSample("medicalgpt/medical_sft_1K_format.jsonl")
      .split("\n")
      .filter(Boolean)
      .slice(0, 12)
      .map((l, i) => {
        const c = (JSON.parse(l) as ShareGpt).conversations;
        return {
          id: `d${i}`,
          messages: [
            { role: "user", content: Array.from(c[0]!.value).slice(0, 24).join("") },
            { role: "assistant", content: Array.from(c[1]!.value).slice(0, 32).join("") },
          ],
        };
      });
    const trained = dialogues.slice(0, 6);
    const jsonl = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join("\n") + "\n";
    await writeFile(path.join(dir, "train.jsonl"), jsonl(trained));
    await writeFile(path.join(dir, "all.jsonl"), jsonl(dialogues));

    const base = path.join(dir, "base");
    await runPython(["-m", "sfmed_trainer.tiny", base, "--corpus", path.join(dir, "all.jsonl"), "--vocab-size", "600", "--hidden", "64", "--layers", "2"]);
    const job = {
      version: 1,
      stage: "sft",
      model: base,
      output_dir: path.join(dir, "sft"),
      cutoff_len: 128,
      data: { train: path.join(dir, "train.jsonl") },
      train: { max_steps: 300, batch_size: 6, lr: 0.003, scheduler: "constant", seed: 0 },
    };
    await writeFile(path.join(dir, "job.json"), JSON.stringify(job));
    const events = await runPython(["-m", "sfmed_trainer", "run", path.join(dir, "job.json")]);
    const model = String(events.find((e) => e.event === "done")!.model);

    const url = await serve(model);
    const ungated = createOpenAIModel({ baseURL: `${url}/v1`, model: "tiny", concurrency: 1 });
    const samples: ProbeSample[] = [];
    for (const d of dialogues) samples.push((await toProbeSample(d, { split: { ratio: 0.5 } }))!);
    const report = await probeMemorization({ model: ungated, samples, concurrency: 1, stop: ["<|im_end|>"], maxTokens: () => 48 });
    expect(report.memorizedIds).toEqual(trained.map((d) => d.id).sort());
    expect(report.total).toBe(12);
    // Continuation log-probs separate the trained dialogues from the held-out ones.
    expect(report.membership!.scores.loss.auc).toBeGreaterThan(0.9);
    // So do the true suffix's log-probs, scored by the server through echo (one forward pass per sample).
    const echoed = await probeMemorization({ model: ungated, samples, concurrency: 1, stop: ["<|im_end|>"], maxTokens: () => 48, membership: "suffix-echo" });
    expect(echoed.membership!.source).toBe("suffix-echo");
    expect(echoed.membership!.scores.loss.auc).toBeGreaterThan(0.9);
    // The server's own token boundaries, through echo, rebuild the text (Chinese split over byte tokens included).
    const text = samples[0]!.prefix + samples[0]!.suffix;
    const pieces = await echoTokenizer(ungated)(text);
    expect(pieces.join("")).toBe(text);

    const memorized = samples.filter((s) => report.memorizedIds.includes(s.id));
    const db = await buildHighRiskDb({ model: ungated, samples: memorized, layer: 1, replacements: { safeResponses: ["抱歉，我不能提供这方面的信息。"] } });
    expect(db.entries.dim).toBe(64);
    const gateFile = path.join(dir, "gate.json");
    await writeGateFile(gateFile, gateFileFromDb(db));
    const gatedUrl = await serve(model, gateFile);
    const gated = createOpenAIModel({ baseURL: `${gatedUrl}/v1`, model: "tiny", concurrency: 1 });
    const ev = await evaluateGate({ ungated, gated, memorized, heldOut: samples.filter((s) => !report.memorizedIds.includes(s.id)), stop: ["<|im_end|>"], heldOutMaxTokens: 48, concurrency: 1 });
    expect(ev.memorized.leakRateUngated).toBe(1);
    expect(ev.memorized.leakRateGated).toBeLessThan(ev.memorized.leakRateUngated);
    console.log(JSON.stringify({ probe: { memorized: report.memorized, total: report.total, membership: report.membership }, gate: ev }, null, 1));
  });
});
