import { readdir } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { readIndex, writeIndex, type IndexManifest } from "./index-store.js";

const params = { hashScheme: "h", normalization: "n", numPerm: 4, seed: 1, ngram: 3, bands: 2, rows: 2 };
const manifest = (count: number): IndexManifest => ({ format: "sfmed-dedup-index", version: 1, count, hasShingles: false, hasSignatures: false, ...params });
const want = { ...params, needShingles: false, needSignatures: false };

describe("index store", () => {
  it("replaces an index whole, and a failed write leaves the previous one and no temp behind", async () => {
    const root = await tempDir();
    const dir = path.join(root, "idx");
    const parts = (ids: string[]) => ({ ids, bandKeys: (b: number) => Int32Array.from(ids.flatMap((_, i) => [b, i])), sizes: Int32Array.from(ids, (s) => s.length) });
    await writeIndex(dir, manifest(1), parts(["a"]));
    await writeIndex(`${dir}/`, manifest(2), parts(["b", "cc"]));
    let got = await readIndex(dir, want);
    expect(got.ids).toEqual(["b", "cc"]);
    expect([...got.bandKeys[1]!]).toEqual([1, 0, 1, 1]);
    const boom = { ...parts(["x"]), bandKeys: () => { throw new Error("boom"); } };
    await expect(writeIndex(dir, manifest(1), boom)).rejects.toThrow("boom");
    got = await readIndex(dir, want);
    expect([...got.sizes]).toEqual([1, 2]);
    expect(await readdir(root)).toEqual(["idx"]);
  });
});
