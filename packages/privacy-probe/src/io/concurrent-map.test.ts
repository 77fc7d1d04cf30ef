import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { forEachConcurrent } from "./concurrent-map.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("forEachConcurrent", () => {
  test.prop([fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }), fc.integer({ min: 1, max: 6 })])(
    "visits every item once with at most `concurrency` in flight",
    async (delays, concurrency) => {
      let inFlight = 0;
      let peak = 0;
      const seen: number[] = [];
      async function* source() {
        for (const [i, d] of delays.entries()) yield { i, d };
      }
      await forEachConcurrent(
        source(),
        async ({ i, d }) => {
          peak = Math.max(peak, ++inFlight);
          await tick(d);
          seen.push(i);
          inFlight--;
        },
        { concurrency },
      );
      expect(seen.sort((a, b) => a - b)).toEqual(delays.map((_, i) => i));
      expect(peak).toBeLessThanOrEqual(concurrency);
    },
  );

  it("rejects with the first error and starts nothing after it", async () => {
    const started: number[] = [];
    const err = await forEachConcurrent(
      [1, 2, 3, 4, 5, 6],
      async (x) => {
        started.push(x);
        await tick(1);
        if (x === 2) throw new Error("boom");
      },
      { concurrency: 2 },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe("boom");
    expect(started.length).toBeLessThan(6);
  });

  it("stops when the signal aborts", async () => {
    const ac = new AbortController();
    const done: number[] = [];
    const p = forEachConcurrent(
      Array.from({ length: 50 }, (_, i) => i),
      async (x) => {
        if (x === 3) ac.abort();
        done.push(x);
      },
      { concurrency: 1, signal: ac.signal },
    );
    await expect(p).rejects.toThrow();
    expect(done).toEqual([0, 1, 2, 3]);
  });
});
