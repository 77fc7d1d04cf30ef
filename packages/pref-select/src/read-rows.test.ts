import { writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { readInputRows } from "./read-rows.js";

describe("readInputRows", () => {
  it("keeps parsed rows with their lines and rejects unparsable ones by line", async () => {
    const file = path.join(await tempDir(), "pairs.jsonl");
    await writeFile(file, '{"id":"a","chosen":"好"}\n{broken\n\n{"id":"b"}\n');
    const rows = await readInputRows(file);
    expect(rows.values).toEqual([{ id: "a", chosen: "好" }, { id: "b" }]);
    expect(rows.lines).toEqual([1, 4]);
    expect(rows.bad).toHaveLength(1);
    expect(rows.bad[0]).toMatchObject({ file, line: 2 });
    expect(rows.bad[0]!.reason).not.toContain(file);
  });
});
