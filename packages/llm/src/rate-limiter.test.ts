import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limiter.js";

describe("RateLimiter", () => {
  it("lets at most requestsPerMinute through in any window", async () => {
    // A long window keeps the upper bounds loose on a busy machine.
    const rl = new RateLimiter({ requestsPerMinute: 2, windowMs: 400 });
    const t0 = Date.now();
    const times: number[] = [];
    await Promise.all(Array.from({ length: 5 }, () => rl.acquire(0).then(() => times.push(Date.now() - t0))));
    times.sort((a, b) => a - b);
    expect(times[1]!).toBeLessThan(250);
    expect(times[2]!).toBeGreaterThanOrEqual(390);
    expect(times[4]!).toBeGreaterThanOrEqual(790);
  });

  it("limits tokens, counting settled usage instead of the estimate", async () => {
    const rl = new RateLimiter({ tokensPerMinute: 100, windowMs: 400 });
    const t0 = Date.now();
    const a = await rl.acquire(90);
    a.settle(10); // the call used far less than booked
    await rl.acquire(80);
    expect(Date.now() - t0).toBeLessThan(250);
    await rl.acquire(50); // 90 booked in the window: must wait
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
  });

  it("holds everyone during a pause and aborts a waiter", async () => {
    const rl = new RateLimiter();
    const t0 = Date.now();
    rl.pauseUntil(t0 + 80);
    await rl.acquire(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75);
    rl.pauseUntil(Date.now() + 10_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop")), 20);
    await expect(rl.acquire(1, ac.signal)).rejects.toThrow("stop");
  });
});
