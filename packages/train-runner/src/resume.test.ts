import { appendFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { findResumeCheckpoint, readEventsFile } from "./resume.js";
import { resumeJob, runJob } from "./run-job.js";

const FAKE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test/fake-trainer");
const env = { PYTHONPATH: FAKE };
const python = process.env.SFMED_PYTHON ?? "python3";

const ev = (e: Record<string, unknown>) => JSON.stringify({ v: 1, ...e }) + "\n";

async function jobDir(events: string) {
  const dir = await tempDir();
  await writeFile(path.join(dir, "events.jsonl"), events);
  return dir;
}

describe("reading a job's events and checkpoints for resume", () => {
  it("skips a torn or malformed line with a warning naming file and line", async () => {
    const dir = await jobDir(ev({ event: "start" }) + '{"event":"step","st\n' + "[1,2]\n" + ev({ event: "step", step: 1 }));
    const warnings: string[] = [];
    const events = await readEventsFile(path.join(dir, "events.jsonl"), { onWarning: (m) => warnings.push(m) });
    expect(events.map((e) => e.event)).toEqual(["start", "step"]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(`${path.join(dir, "events.jsonl")}:2:`);
    expect(warnings[1]).toContain(":3:");
  });

  it("falls back to the newest checkpoint that exists when the newest listed one is gone", async () => {
    const dir = await tempDir();
    const ck = (n: number) => path.join(dir, `checkpoint-${n}`);
    await mkdir(ck(2));
    await mkdir(ck(4));
    await writeFile(path.join(dir, "events.jsonl"), ev({ event: "checkpoint", path: ck(2), step: 2 }) + ev({ event: "checkpoint", path: ck(4), step: 4 }) + ev({ event: "checkpoint", path: ck(6), step: 6 }) + '{"event":"check');
    const warnings: string[] = [];
    expect(await findResumeCheckpoint(dir, { onWarning: (m) => warnings.push(m) })).toBe(ck(4));
    expect(warnings.join("\n")).toMatch(/checkpoint-6 is missing; resuming from .*checkpoint-4/);
    // Nothing listed exists any more: the newest checkpoint folder on disk.
    await rm(ck(4), { recursive: true });
    await rm(ck(2), { recursive: true });
    await mkdir(ck(3));
    expect(await findResumeCheckpoint(dir)).toBe(ck(3));
    // No events at all, no folders: start over.
    const empty = await tempDir();
    expect(await findResumeCheckpoint(empty)).toBeUndefined();
  });

  it("orders rm's per-model checkpoints by model, then step", async () => {
    const dir = await tempDir();
    for (const p of ["model-0/checkpoint-9", "model-1/checkpoint-2", "checkpoint-1"]) await mkdir(path.join(dir, p), { recursive: true });
    expect(await findResumeCheckpoint(dir)).toBe(path.join(dir, "model-1/checkpoint-2"));
  });

  it("resumeJob survives a torn events file and resumes from the newest existing checkpoint", async () => {
    const dir = await tempDir();
    const ac = new AbortController();
    const first = await runJob(
      { stage: "sft", output_dir: dir, fake: "slow" },
      { python, env, signal: ac.signal, onEvent: (e) => e.event === "step" && (e as { step: number }).step === 2 && ac.abort() },
    );
    expect(first.status).toBe("interrupted");
    // A later checkpoint that was lost, and a line cut by a kill.
    await appendFile(path.join(dir, "events.jsonl"), ev({ event: "checkpoint", path: path.join(dir, "checkpoint-5"), step: 5 }) + '{"event":"st');
    const notices: string[] = [];
    const second = await resumeJob(dir, { python, env, onNotice: (m) => notices.push(m) });
    expect(second.status).toBe("completed");
    expect(second.metrics.start_step).toBe(Number(first.lastCheckpoint!.split("-").pop()));
    expect(notices.some((n) => /not a trainer event/.test(n))).toBe(true);
    expect(notices.some((n) => /checkpoint-5 is missing/.test(n))).toBe(true);
    // The resumed run's events start on a line of their own: the file reads back without a new torn line.
    const lines = (await readFile(path.join(dir, "events.jsonl"), "utf8")).trim().split("\n");
    expect(lines.filter((l) => !l.startsWith("{") || !l.endsWith("}"))).toEqual(['{"event":"st']);
  });
});
