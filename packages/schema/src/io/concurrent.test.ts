import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { forEachConcurrent, mapConcurrent } from "./concurrent.js";

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
        async ({ i, d }, index) => {
          expect(index).toBe(i);
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

  it("rejects with the first error after the calls in flight settle, and starts nothing after it", async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const err = await forEachConcurrent(
      [1, 2, 3, 4, 5, 6],
      async (x) => {
        started.push(x);
        await tick(x === 1 ? 20 : 1);
        settled.push(x);
        if (x === 2) throw new Error("boom");
      },
      { concurrency: 2 },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe("boom");
    expect(started).toEqual([1, 2]);
    expect(settled).toEqual([2, 1]); // item 1 finished before the rejection
  });

  it("stops when the signal aborts, rejecting with its reason", async () => {
    const ac = new AbortController();
    const done: number[] = [];
    const p = forEachConcurrent(
      Array.from({ length: 50 }, (_, i) => i),
      async (x) => {
        if (x === 3) ac.abort(new Error("stop"));
        done.push(x);
      },
      { concurrency: 1, signal: ac.signal },
    );
    await expect(p).rejects.toThrow("stop");
    expect(done).toEqual([0, 1, 2, 3]);
  });

  it("closes a generator source it stops early (its finally runs)", async () => {
    let closed = false;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    await expect(
      forEachConcurrent(source(), async (x) => {
        if (x === 5) throw new Error("enough");
      }),
    ).rejects.toThrow("enough");
    expect(closed).toBe(true);
  });
});

describe("mapConcurrent", () => {
  test.prop([fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 25 }), fc.integer({ min: 1, max: 5 })])(
    "returns results in input order whatever order they finish in",
    async (delays, limit) => {
      const out = await mapConcurrent(delays, limit, async (d, i) => {
        await tick(d);
        return `${i}:${d}`;
      });
      expect(out).toEqual(delays.map((d, i) => `${i}:${d}`));
    },
  );

  it("propagates an error thrown by fn", async () => {
    await expect(mapConcurrent([1, 2, 3], 2, async (x) => (x === 3 ? Promise.reject(new RangeError("bad")) : x))).rejects.toBeInstanceOf(RangeError);
  });
});
