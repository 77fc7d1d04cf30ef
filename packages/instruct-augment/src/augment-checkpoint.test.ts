import { appendFile, copyFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "@sfmed/test-utils";
import { AugmentCheckpoint, acceptedLogPath, loadCheckpoint, type AcceptedInstruction, type CheckpointSnapshot } from "./augment-checkpoint.js";

const snap = (step: number, acceptedCount: number): CheckpointSnapshot => ({
  version: 2,
  configHash: "h",
  step,
  rng: [1, 2, 3, 4],
  banks: { question: ["问一。"], answer: ["答一。"] },
  acceptedCount,
  candidates: step * 3,
  rejected: { "too-short": 0, "too-long": 0, incomplete: 0, language: 0, unprofessional: 0, duplicate: 0, "not-novel": 0 },
  usage: { calls: step, cachedCalls: 0, promptTokens: 0, completionTokens: 0, cost: 0 },
});
const acc = (text: string, step: number): AcceptedInstruction => ({ text, step, terms: ["高血压"], maxRougeL: 0.1 });

describe("augmentation checkpoint", () => {
  it("round-trips the snapshot and the accepted log", async () => {
    const file = path.join(await tempDir(), "state.json");
    expect(await loadCheckpoint(file)).toBeUndefined();
    const cp = await AugmentCheckpoint.start(file, snap(0, 0));
    await cp.saveStep(snap(1, 2), [acc("甲。", 1), acc("乙。", 1)]);
    await cp.saveStep(snap(2, 2), []);
    await cp.saveStep(snap(3, 3), [acc("丙。", 3)]);
    await cp.close();
    const got = await loadCheckpoint(file);
    expect(got?.snapshot).toEqual(snap(3, 3));
    expect(got?.accepted.map((a) => a.text)).toEqual(["甲。", "乙。", "丙。"]);
  });

  it("drops log lines of a step that crashed before its snapshot, torn lines included", async () => {
    const file = path.join(await tempDir(), "state.json");
    const cp = await AugmentCheckpoint.start(file, snap(0, 0));
    await cp.saveStep(snap(1, 1), [acc("甲。", 1)]);
    await cp.close();
    await appendFile(acceptedLogPath(file), JSON.stringify(acc("乙。", 2)) + "\n" + '{"text": "丙');
    const resumed = await AugmentCheckpoint.resume(file);
    expect(resumed?.accepted.map((a) => a.text)).toEqual(["甲。"]);
    expect((await readFile(acceptedLogPath(file), "utf8")).trim().split("\n")).toHaveLength(1);
    await resumed!.checkpoint.saveStep(snap(2, 2), [acc("丁。", 2)]);
    await resumed!.checkpoint.close();
    expect((await loadCheckpoint(file))?.accepted.map((a) => a.text)).toEqual(["甲。", "丁。"]);
  });

  it("refuses a log shorter than the snapshot says, and a foreign file", async () => {
    const file = path.join(await tempDir(), "state.json");
    const cp = await AugmentCheckpoint.start(file, snap(0, 0));
    await cp.saveStep(snap(1, 1), [acc("甲。", 1)]);
    await cp.close();
    await writeFile(file, JSON.stringify(snap(2, 5)));
    await expect(loadCheckpoint(file)).rejects.toMatchObject({ name: "AugmentError", code: "BAD_CHECKPOINT" });
    await writeFile(file, JSON.stringify({ hello: 1 }));
    await expect(loadCheckpoint(file)).rejects.toMatchObject({ code: "BAD_CHECKPOINT" });
  });
});

describe("checkpoints written by earlier releases", () => {
  // A snapshot written by a real mini-example augment run (format version 2), committed so a fresh clone has it.
  it("a snapshot written by an earlier example run loads", async () => {
    const from = path.join(import.meta.dirname, "../fixtures/checkpoint-v2/single.jsonl.state.json");
    const file = path.join(await tempDir(), "state.json");
    await copyFile(from, file);
    await copyFile(acceptedLogPath(from), acceptedLogPath(file));
    const got = await loadCheckpoint(file);
    expect(got?.snapshot).toEqual(JSON.parse(await readFile(from, "utf8")));
    expect(got?.accepted).toHaveLength(got!.snapshot.acceptedCount);
  });

  it("a log written line by line as before (no header) resumes, and appends continue it", async () => {
    const file = path.join(await tempDir(), "state.json");
    const old = [acc("甲。", 1), acc("乙。", 2)];
    await writeFile(file, JSON.stringify(snap(2, 2)));
    await writeFile(acceptedLogPath(file), old.map((a) => JSON.stringify(a) + "\n").join(""));
    const r = await AugmentCheckpoint.resume(file);
    expect(r?.accepted).toEqual(old);
    await r!.checkpoint.saveStep(snap(3, 3), [acc("丙。", 3)]);
    await r!.checkpoint.close();
    expect(await readFile(acceptedLogPath(file), "utf8")).toBe([...old, acc("丙。", 3)].map((a) => JSON.stringify(a) + "\n").join(""));
  });
});
