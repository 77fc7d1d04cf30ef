import path from "node:path";
import { samplePath, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

describe("sfmed stats", () => {
  it("reports counts per source, turns and length percentiles as JSON and as a table", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "c.jsonl");
    expect((await capture(["convert", "--from", "cmtmedqa", samplePath("cmtmedqa/CMtMedQA_test.json"), "-o", out])).code).toBe(0);
    const j = await capture(["stats", out, "--json"]);
    expect(j.code).toBe(0);
    const s = JSON.parse(j.stdout) as { file: string; stats: { records: number; bySource: Record<string, number>; turns: { histogram: Record<string, number>; max: number }; lengths: Record<string, { p50: number; p90: number }> } };
    expect(s.stats.records).toBe(72);
    expect(s.stats.bySource).toEqual({ cmtmedqa: 72 });
    expect(Object.values(s.stats.turns.histogram).reduce((a, b) => a + b, 0)).toBe(72);
    expect(s.stats.turns.histogram["1"]).toBeGreaterThanOrEqual(12);
    expect(s.stats.lengths.assistant!.p90).toBeGreaterThanOrEqual(s.stats.lengths.assistant!.p50);
    const t = await capture(["stats", out]);
    expect(t.stdout).toContain("72 records");
    expect(t.stdout).toMatch(/user turns\s+72/);
    expect(t.stdout).toMatch(/assistant chars\s+72/);
  });

  it("fails with the file and line when a record does not match --schema", async () => {
    const r = await capture(["stats", samplePath("medicalgpt/test.json"), "--schema", "dialogue"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/test\.json:1 field (id|messages)/);
  });
});
