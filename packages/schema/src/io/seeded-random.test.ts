import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { hashFile } from "./hash-file.js";
import { seededRandom, splitmix32 } from "./seeded-random.js";

describe("splitmix32", () => {
  // The same steps in BigInt arithmetic mod 2^32, so the Math.imul/sign tricks cannot hide a slip.
  const reference = (seed: number, n: number): number[] => {
    const M = 0xffffffffn;
    let state = BigInt(seed >>> 0);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      state = (state + 0x9e3779b9n) & M;
      let z = state;
      z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M;
      z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M;
      out.push(Number(BigInt.asIntN(32, z ^ (z >> 16n))));
    }
    return out;
  };
  test.prop([fc.integer()])("equals the mod-2^32 definition for any seed", (seed) => {
    const r = splitmix32(seed);
    expect(Array.from({ length: 20 }, () => r())).toEqual(reference(seed, 20));
  });
});

describe("seededRandom", () => {
  test.prop([fc.integer()])("is a function of the seed alone, with values in [0, 1)", (seed) => {
    const a = seededRandom(seed);
    const b = seededRandom(seed);
    for (let i = 0; i < 50; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it("keeps its sequence for seed 1 (changing it would change every seeded sample and bootstrap)", () => {
    const r = seededRandom(1);
    expect([r(), r(), r()].map((x) => Math.round(x * 4294967296))).toEqual([2693262067, 11749833, 2265367787]);
  });

  it("spreads evenly: each tenth of [0, 1) gets 10% ± 1% of 100k draws", () => {
    const r = seededRandom(42);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) bins[Math.floor(r() * 10)]!++;
    for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(1_000);
  });
});

describe("hashFile", () => {
  it("is the SHA-256 of the file's bytes", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "x.bin");
    const bytes = Buffer.alloc(3 << 20, 7);
    bytes.write("中文", 1_500_000);
    await writeFile(file, bytes);
    expect(await hashFile(file)).toBe(createHash("sha256").update(bytes).digest("hex"));
  });
});
