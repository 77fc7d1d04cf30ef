// `pipeline run --dry-run` shows what would run and writes nothing: no stage folders, no report, no lock.
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

describe("pipeline run --dry-run", () => {
  it("lists the stages it would run and creates nothing", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "in.jsonl"), JSON.stringify({ id: "d1", messages: [{ role: "user", content: "头痛" }, { role: "assistant", content: "休息" }] }) + "\n");
    const file = path.join(dir, "p.yaml");
    await writeFile(
      file,
      ["name: t", "out: runs/out", "stages:", "  one:", "    run: convert --from dialogue ${dir}/in.jsonl -o ${out}/a.jsonl", "  two:", "    run: convert --from dialogue ${one}/a.jsonl -o ${out}/b.jsonl", ""].join("\n"),
    );
    const r = await capture(["pipeline", "run", "--dry-run", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/one would run/);
    expect(r.stderr).toMatch(/two would run/);
    expect(r.stderr).toMatch(/dry run, nothing written/);
    expect(existsSync(path.join(dir, "runs"))).toBe(false);
  });
});
