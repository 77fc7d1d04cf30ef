// Ctrl-C and SIGTERM against real `sfmed` processes: `train` and `pipeline run` must end with 130/143 (never 0),
// leave the training stage unfinished with its checkpoint, and a rerun must continue from that checkpoint. The
// trainer is the fake one of train-runner's tests (it speaks the event protocol and checkpoints on a signal).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { repoRoot, tempDir } from "@sfmed/test-utils";
import { describe, expect, it, vi } from "vitest";
import { capture } from "../test-helpers/capture.js";

const BIN = path.join(repoRoot, "packages/cli/src/bin.ts");
const FAKE = path.join(repoRoot, "packages/train-runner/test/fake-trainer");

async function fakeEnv() {
  return { SFMED_TRAINER_DIR: FAKE, SFMED_TRAINER_VENV: path.join(await tempDir(), "env"), SFMED_PYTHON: process.env.SFMED_PYTHON ?? "python3" };
}

/** Start `sfmed ARGS` from source; `until(events)` decides when to send `signal`. Resolves to the exit code. */
function runAndSignal(args: string[], env: Record<string, string>, eventsFile: string, until: (events: Array<Record<string, unknown>>) => boolean, signal: NodeJS.Signals) {
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", BIN, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const poll = setInterval(() => {
      let events: Array<Record<string, unknown>> = [];
      try {
        events = readFileSync(eventsFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch {
        return;
      }
      if (until(events)) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 100);
    child.once("error", reject);
    child.once("close", (code) => {
      clearInterval(poll);
      resolve({ code, stderr });
    });
  });
}

const JOB = "stage: sft\noutput_dir: unused\nfake: slow\nfake_steps: 400\nfake_sleep: 0.05\n";
const steps = (events: Array<Record<string, unknown>>) => events.filter((e) => e.event === "step").length;

describe("interrupting real sfmed processes", () => {
  it("sfmed train exits 143 on SIGTERM after the trainer saved a checkpoint", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "job.yaml"), JOB);
    const out = path.join(dir, "run");
    const r = await runAndSignal(["train", "sft", "--config", path.join(dir, "job.yaml"), "-o", out], await fakeEnv(), path.join(out, "events.jsonl"), (e) => steps(e) >= 2, "SIGTERM");
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/interrupted .*resume with: sfmed train resume/);
    const events = (await readFile(path.join(out, "events.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1)).toMatchObject({ event: "done", interrupted: true });
    expect(events.some((e) => e.event === "checkpoint")).toBe(true);
  }, 120_000);

  it("pipeline run: SIGINT exits 130, SIGTERM exits 143, each rerun continues from the checkpoint, then finishes", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "job.yaml"), JOB);
    const file = path.join(dir, "pipeline.yaml");
    await writeFile(file, "stages:\n  sft:\n    run: train sft --config ${dir}/job.yaml -o ${out}\n    inputs: ${dir}/job.yaml\n");
    const env = await fakeEnv();
    const events = path.join(dir, "out/sft/events.jsonl");
    const marker = () => JSON.parse(readFileSync(path.join(dir, "out/sft/.sfmed-stage.json"), "utf8")) as { state: string };

    const first = await runAndSignal(["pipeline", "run", file], env, events, (e) => steps(e) >= 3, "SIGINT");
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toMatch(/stopped by SIGINT during stage "sft"/);
    expect(marker().state).toBe("running");
    const ck1 = (await readFile(events, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === "checkpoint").at(-1)!.path as string;

    // The rerun resumes (a second `start` event naming the checkpoint), and SIGTERM stops it again.
    const starts = (e: Array<Record<string, unknown>>) => e.filter((x) => x.event === "start");
    const second = await runAndSignal(["pipeline", "run", file], env, events, (e) => starts(e).length === 2 && e.at(-1)!.event === "step", "SIGTERM");
    expect(second.code, second.stderr).toBe(143);
    expect(second.stderr).toMatch(/continuing an unfinished run/);
    const after = (await readFile(events, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(starts(after)[1]!.resumed_from).toBe(ck1);
    expect(marker().state).toBe("running");

    // Finish it fast, in-process this time; the last run's checkpoint is where it starts.
    for (const [k, v] of Object.entries({ ...env, SFMED_FAKE_SLEEP: "0" })) vi.stubEnv(k, v);
    try {
      const third = await capture(["pipeline", "run", file]);
      expect(third.code, third.stderr).toBe(0);
      const done = (await readFile(events, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const ck2 = done.filter((e) => e.event === "checkpoint" && e.path !== ck1).at(0)?.path;
      expect(starts(done)[2]!.resumed_from).toBe(ck2);
      expect(done.at(-1)).toMatchObject({ event: "done", interrupted: false });
      expect(marker().state).toBe("done");
      const fourth = await capture(["pipeline", "run", file]);
      expect(fourth.stderr).toMatch(/✓ sft \(cached\)/);
    } finally {
      vi.unstubAllEnvs();
    }
  }, 240_000);
});
