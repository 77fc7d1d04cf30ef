import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { EvalInputError } from "./errors.js";
import { reservoirSample, ReservoirSampler } from "./reservoir-sample.js";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function* slowly<T>(xs: readonly T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

describe("reservoirSample", () => {
  test.prop([fc.array(fc.string(), { maxLength: 60 }), fc.nat(70), fc.integer()])("the same seed gives the same sample", async (xs, k, seed) => {
    const a = await reservoirSample(xs, k, { seed });
    const b = await reservoirSample(slowly(xs), k, { seed });
    expect(b).toEqual(a);
  });

  test.prop([fc.nat(80), fc.nat(90), fc.integer()])("takes min(k, count) items, in input order, each from its position", async (n, k, seed) => {
    const xs = range(n).map((i) => `r${i}`);
    const r = await reservoirSample(xs, k, { seed });
    expect(r.seen).toBe(n);
    expect(r.items).toHaveLength(Math.min(k, n));
    for (let i = 1; i < r.indices.length; i++) expect(r.indices[i]!).toBeGreaterThan(r.indices[i - 1]!);
    expect(r.items).toEqual(r.indices.map((i) => xs[i]));
    if (k >= n) expect(r.items).toEqual(xs);
  });

  it("gives different seeds different samples", async () => {
    const xs = range(1000);
    const samples = await Promise.all([1, 2, 3].map(async (seed) => (await reservoirSample(xs, 10, { seed })).indices.join(",")));
    expect(new Set(samples).size).toBe(3);
  });

  it("includes every item with probability k/n (20,000 seeds, 5σ bounds)", async () => {
    const n = 10;
    const k = 3;
    const trials = 20_000;
    const counts = new Array<number>(n).fill(0);
    for (let seed = 0; seed < trials; seed++) for (const i of (await reservoirSample(range(n), k, { seed })).items) counts[i]!++;
    const p = k / n;
    const sd = Math.sqrt(trials * p * (1 - p));
    for (const c of counts) expect(Math.abs(c - trials * p)).toBeLessThan(5 * sd);
    // The first k items sit in the reservoir from the start: a bias towards them (or against the last ones) would show.
    expect(counts.reduce((a, b) => a + b, 0)).toBe(trials * k);
  });

  it("draws every subset equally often (chi-square over the 10 pairs of 5 items)", async () => {
    const trials = 20_000;
    const counts = new Map<string, number>();
    for (let seed = 0; seed < trials; seed++) {
      const key = (await reservoirSample(["a", "b", "c", "d", "e"], 2, { seed })).items.join("");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(10);
    const expected = trials / 10;
    const chi2 = [...counts.values()].reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: P(χ² > 33.7) = 1e-4.
    expect(chi2).toBeLessThan(33.7);
  });

  it("streams: the sampler can be read at any point and holds k items", () => {
    const s = new ReservoirSampler<number>(5, { seed: 9 });
    for (let i = 0; i < 100_000; i++) s.add(i);
    const r = s.result();
    expect(r.seen).toBe(100_000);
    expect(r.items).toHaveLength(5);
    // The sample reaches past the first items of a long stream.
    expect(r.indices.at(-1)!).toBeGreaterThan(1000);
  });

  it("rejects a bad size or seed", async () => {
    await expect(reservoirSample([1], -1)).rejects.toBeInstanceOf(EvalInputError);
    await expect(reservoirSample([1], 1.5)).rejects.toThrow("sample size must be an integer");
    await expect(reservoirSample([1], 1, { seed: 0.5 })).rejects.toThrow("seed must be an integer");
  });
});
