import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import type { PrivacyProbeError } from "../errors.js";
import { ExactCosineIndex } from "./exact-cosine-index.js";
import { readVectorFile, writeVectorFile } from "./vector-file.js";

const vec = (dim: number) => fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: dim, maxLength: dim }).map((a) => Float32Array.from(a));

function cosine64(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return d / Math.sqrt(na * nb);
}

const nonZero = (v: Float32Array) => v.some((x) => Math.abs(x) > 1e-3);

describe("ExactCosineIndex", () => {
  test.prop([fc.array(vec(7).filter(nonZero), { minLength: 1, maxLength: 40 }), vec(7).filter(nonZero)])(
    "search agrees with cosine computed in double precision",
    (rows, q) => {
      const index = new ExactCosineIndex(7, 2);
      rows.forEach((r, i) => index.add(`r${i}`, r));
      const hits = index.search(q, rows.length);
      expect(hits).toHaveLength(rows.length);
      for (const h of hits) expect(h.similarity).toBeCloseTo(cosine64(rows[h.row]!, q), 5);
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.similarity).toBeGreaterThanOrEqual(hits[i]!.similarity);
      expect(index.nearest(q)!.similarity).toBeCloseTo(hits[0]!.similarity, 6);
    },
  );

  test.prop([fc.array(vec(5).filter(nonZero), { minLength: 1, maxLength: 20 }), fc.double({ min: 0.01, max: 100, noNaN: true })])(
    "a stored vector, at any scale, finds itself with similarity 1",
    (rows, scale) => {
      const index = new ExactCosineIndex(5);
      rows.forEach((r, i) => index.add(`r${i}`, r));
      rows.forEach((r) => {
        const best = index.nearest(r.map((x) => x * scale))!;
        expect(best.similarity).toBeCloseTo(1, 5);
      });
    },
  );

  it("rejects wrong widths, zero vectors and repeated ids", () => {
    const index = new ExactCosineIndex(3);
    index.add("a", new Float32Array([1, 0, 0]));
    const code = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return (e as PrivacyProbeError).code;
      }
      return "none";
    };
    expect(code(() => index.add("b", new Float32Array([1, 0])))).toBe("DIM_MISMATCH");
    expect(code(() => index.add("b", new Float32Array(3)))).toBe("BAD_INPUT");
    expect(code(() => index.add("a", new Float32Array([0, 1, 0])))).toBe("BAD_INPUT");
    expect(code(() => index.search(new Float32Array(4)))).toBe("DIM_MISMATCH");
    expect(new ExactCosineIndex(3).nearest(new Float32Array([1, 0, 0]))).toBeUndefined();
  });

  it("saves and loads through the binary file, atomically, and rejects corrupt files", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "idx.bin");
    const index = new ExactCosineIndex(4);
    index.add("甲", new Float32Array([1, 2, 3, 4]));
    index.add("乙", new Float32Array([-1, 0, 0.5, 2]));
    await index.save(file, { layer: 3 });
    const back = await ExactCosineIndex.load(file);
    expect(back.ids).toEqual(["甲", "乙"]);
    expect(Array.from(back.matrix())).toEqual(Array.from(index.matrix()));
    const { header } = await readVectorFile(file);
    expect(header).toMatchObject({ kind: "exact-cosine-index", meta: { layer: 3 }, matrices: [{ name: "rows", rows: 2, dim: 4 }] });
    // The data starts 4-byte aligned.
    const bytes = await readFile(file);
    expect((12 + bytes.readUInt32LE(8)) % 4).toBe(0);

    await writeFile(path.join(dir, "short.bin"), bytes.subarray(0, bytes.length - 4));
    await expect(ExactCosineIndex.load(path.join(dir, "short.bin"))).rejects.toMatchObject({ code: "BAD_FILE" });
    await writeFile(path.join(dir, "junk.bin"), "hello world, not vectors");
    await expect(ExactCosineIndex.load(path.join(dir, "junk.bin"))).rejects.toMatchObject({ code: "BAD_FILE" });
    await writeVectorFile(path.join(dir, "other.bin"), { version: 1, kind: "something-else" }, []);
    await expect(ExactCosineIndex.load(path.join(dir, "other.bin"))).rejects.toThrow(/expected a exact-cosine-index file/);
  });
});
