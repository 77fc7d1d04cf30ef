import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { buildHighRiskDb } from "../embedding/build-high-risk-db.js";
import { fakeEmbeddingModel } from "../fake-models.test-helpers.js";
import { gateFileFromDb, readGateFile, validateGateFile, writeGateFile } from "./gate-file.js";

describe("gate file", () => {
  it("exports the agreed JSON shape from a database and reads it back", async () => {
    const db = await buildHighRiskDb({
      model: fakeEmbeddingModel(6),
      samples: [
        { id: "a", prefix: "某患者的病历摘要" },
        { id: "b", prefix: "另一位患者的联系方式" },
      ],
      layer: 12,
      replacements: { safeResponses: ["抱歉，无法提供。"] },
    });
    const gate = gateFileFromDb(db);
    const dir = await tempDir();
    const file = path.join(dir, "gate.json");
    await writeGateFile(file, gate);
    const raw = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    expect(Object.keys(raw)).toEqual(["version", "layer", "threshold", "dim", "entries", "replacements"]);
    expect(raw).toMatchObject({ version: 1, layer: 12, threshold: 0.8, dim: 6 });
    expect(raw.entries).toHaveLength(2);
    // Entries are unit length; replacements keep their scale.
    for (const e of gate.entries) expect(Math.hypot(...e)).toBeCloseTo(1, 5);
    expect(gate.replacements[0]).toEqual(Array.from(db.replacements[0]!));
    expect(await readGateFile(file)).toEqual(gate);
  });

  it("names the field that breaks the format", async () => {
    const ok = { version: 1, layer: 3, threshold: 0.8, dim: 2, entries: [[1, 0]], replacements: [[0.5, 0.5]] };
    expect(validateGateFile(ok)).toEqual(ok);
    expect(() => validateGateFile({ ...ok, entries: [[1, 0, 0]] }, "g.json")).toThrow("g.json field entries.0: must be an array of 2 numbers");
    expect(() => validateGateFile({ ...ok, replacements: [] })).toThrow(/one replacement per entry/);
    expect(() => validateGateFile({ ...ok, threshold: 2 })).toThrow(/field threshold/);
    expect(() => validateGateFile({ ...ok, layer: -1 })).toThrow(/field layer/);
    expect(() => validateGateFile({ ...ok, version: 2 })).toThrow(/unsupported version 2/);
    const dir = await tempDir();
    await writeFile(path.join(dir, "x.json"), "{");
    await expect(readGateFile(path.join(dir, "x.json"))).rejects.toMatchObject({ code: "BAD_FILE" });
  });
});
