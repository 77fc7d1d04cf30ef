import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fakeHub, tempDir } from "@sfmed/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { capture } from "../test-helpers/capture.js";

// The committed CMExam sample (see data/samples/SOURCES.md), served by the fake Hub as a dataset file.
const CMEXAM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../data/samples/cmexam/val.sample.csv");

async function hubEnv() {
  const hub = await fakeHub();
  const home = await tempDir();
  vi.stubEnv("HF_ENDPOINT", hub.url);
  vi.stubEnv("HF_HOME", home);
  for (const k of ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"]) vi.stubEnv(k, "");
  return hub;
}

const pipeline = (uri: string) => `name: hub
out: out
stages:
  convert-cmexam:
    run: convert --from cmexam ${uri} -o \${out}/cmexam.jsonl
  pick:
    run: sample \${convert-cmexam}/cmexam.jsonl -n 3 --seed 0 -o \${out}/s.jsonl
`;

async function run(file: string) {
  const r = await capture(["--quiet", "pipeline", "run", file]);
  const report = r.code === 0 ? (JSON.parse(await readFile(path.join(path.dirname(file), "out/pipeline-report.json"), "utf8")) as { stages: Array<{ id: string; status: string }> }) : undefined;
  return { ...r, statuses: report?.stages.map((s) => s.status) };
}

const lines = async (f: string) => (await readFile(f, "utf8")).trim().split("\n").length;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("pipeline stages reading hf:// inputs", () => {
  it("keys a Hub input by the commit it resolves to: cached while the branch stays, rerun when it moves, offline from the cache", async () => {
    const hub = await hubEnv();
    const csv = await readFile(CMEXAM);
    hub.addRepo({ id: "org/mini", files: { "cmexam/val.sample.csv": csv } });
    const dir = await tempDir();
    const file = path.join(dir, "pipeline.yaml");
    await writeFile(file, pipeline("hf://datasets/org/mini/cmexam/val.sample.csv"));
    const out = path.join(dir, "out/convert-cmexam/cmexam.jsonl");

    const first = await run(file);
    expect(first.stderr).toBe("");
    expect(first.statuses).toEqual(["done", "done"]);
    const all = await lines(out);
    expect(all).toBeGreaterThan(10);

    // Same commit: both stages cached, and nothing downloaded again (only the branch lookup).
    const before = hub.requests.length;
    expect((await run(file)).statuses).toEqual(["cached", "cached"]);
    expect(hub.requests.slice(before).map((r) => r.url)).toEqual(["/api/datasets/org/mini/revision/main"]);

    // main moves to a commit with fewer rows: the stage and its dependent rerun on the new file.
    const rows = csv.toString("utf8").split("\n");
    hub.commit("dataset", "org/mini", { "cmexam/val.sample.csv": rows.slice(0, 6).join("\n") + "\n" });
    expect((await run(file)).statuses).toEqual(["done", "done"]);
    expect(await lines(out)).toBeLessThan(all);

    // Offline with the Hub gone: the commit comes from the cache's refs/, so everything is cached.
    await hub.close();
    vi.stubEnv("HF_HUB_OFFLINE", "1");
    expect((await run(file)).statuses).toEqual(["cached", "cached"]);
  });

  it("a malformed URI is a usage error (exit 2) and a missing revision names the stage and URI (exit 1)", async () => {
    const hub = await hubEnv();
    hub.addRepo({ id: "org/mini", files: { "a.csv": "x\n" } });
    const dir = await tempDir();
    const file = path.join(dir, "pipeline.yaml");

    await writeFile(file, pipeline("hf://datasets/org@v1/a.csv"));
    const bad = await run(file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('stage "convert-cmexam"');
    expect(bad.stderr).toContain("hf://datasets/org@v1/a.csv");

    await writeFile(file, pipeline("hf://datasets/org/mini@v9/a.csv"));
    const rev = await run(file);
    expect(rev.code).toBe(1);
    expect(rev.stderr).toMatch(/HubError: stage "convert-cmexam": input hf:\/\/datasets\/org\/mini@v9\/a\.csv: org\/mini: revision "v9": revision not found/);
  });
});
