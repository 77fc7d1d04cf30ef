import path from "node:path";
import { fc } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { ExactCosineIndex } from "./exact-cosine-index.js";
import { UsearchIndex } from "./usearch-index.js";

describe("UsearchIndex (HNSW backend)", () => {
  it("agrees with the exact index on the nearest entry and on similarities, and persists", async () => {
    const dim = 24;
    const rows = fc.sample(fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: dim, maxLength: dim }), { numRuns: 300, seed: 7 }).map((a) => Float32Array.from(a));
    const exact = new ExactCosineIndex(dim);
    const approx = new UsearchIndex({ dim });
    rows.forEach((r, i) => {
      exact.add(`v${i}`, r);
      approx.add(`v${i}`, r);
    });
    expect(approx.size).toBe(300);
    let agree = 0;
    for (const q of rows.slice(0, 50)) {
      const noisy = q.map((x, j) => x + 0.05 * Math.sin(j));
      const e = exact.nearest(noisy)!;
      const [a] = approx.search(noisy, 1);
      if (a!.id === e.id) agree++;
      expect(a!.similarity).toBeCloseTo(exact.search(noisy, 300).find((h) => h.id === a!.id)!.similarity, 4);
    }
    expect(agree).toBeGreaterThanOrEqual(48);
    const dir = await tempDir();
    const file = path.join(dir, "hnsw.usearch");
    await approx.save(file);
    const back = await UsearchIndex.load(file);
    expect(back.size).toBe(300);
    expect(back.search(rows[17]!, 1)[0]).toMatchObject({ id: "v17" });
    expect(back.search(rows[17]!, 1)[0]!.similarity).toBeCloseTo(1, 4);
    await expect(UsearchIndex.load(path.join(dir, "missing.usearch"))).rejects.toMatchObject({ code: "BAD_FILE" });
  });
});
