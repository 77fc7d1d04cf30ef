import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { repoRoot, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";

// Trains real (tiny) reward models with trainer-py, so it needs the trainer venv and minutes of CPU:
// opt in with SFMED_REAL_CHAIN=1.
describe.skipIf(process.env.SFMED_REAL_CHAIN !== "1")("real chain: trainer-py rm ×3 → score → select", () => {
  it("selects MedicalGPT reward pairs by the strength of three reward models", { timeout: 1_200_000 }, async () => {
    const out = await tempDir("sfmed-pref-chain-");
    const script = path.join(repoRoot, "packages/pref-select/scripts/real-chain.sh");
    const r = spawnSync("bash", [script, out, "--pairs", "40", "--seeds", "1", "2", "3", "--epochs", "1"], { encoding: "utf8" });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const lines = async (f: string) => (await readFile(path.join(out, f), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    const scored = await lines("scored.jsonl");
    expect(scored).toHaveLength(40);
    expect(scored[0]!.scores.models).toEqual(["model-0/final", "model-1/final", "model-2/final"]);
    // three seeds, three different models
    expect(scored.some((p) => p.scores.chosen[0] !== p.scores.chosen[1] && p.scores.chosen[1] !== p.scores.chosen[2])).toBe(true);
    const selected = await lines("selected.jsonl");
    const dropped = await lines("dropped.jsonl");
    expect(selected).toHaveLength(36);
    expect(dropped).toHaveLength(4);
    expect(selected.filter((p) => p.meta.action === "flipped")).toHaveLength(4);
    const report = JSON.parse(await readFile(path.join(out, "selected.report.json"), "utf8"));
    expect(report.summary).toMatchObject({ valid: 40, flipped: 4, dropped: 4, kept: 32, models: 3, rejected: 0 });
    const byId = new Map(scored.map((p) => [p.id, p]));
    for (const p of selected.filter((q) => q.meta.action === "flipped")) expect(p.chosen).toBe(byId.get(p.id)!.rejected);
  });
});
