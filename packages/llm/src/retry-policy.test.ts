import { describe, expect } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { backoffDelay, defaultRetry, isRetryableStatus, parseRetryAfter } from "./retry-policy.js";

const h = (o: Record<string, string>) => new Headers(o);

describe("retry policy", () => {
  test.prop([fc.integer({ min: 0, max: 30 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })])(
    "backoff grows exponentially up to the cap, with at most half of it random",
    (k, r) => {
      const d = backoffDelay(k, defaultRetry, () => r);
      const full = Math.min(defaultRetry.maxDelayMs, defaultRetry.baseDelayMs * 2 ** k);
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    },
  );

  test.prop([fc.integer({ min: 0, max: 100_000 })])("reads retry-after-ms, and retry-after seconds", (ms) => {
    expect(parseRetryAfter(h({ "retry-after-ms": String(ms) }))).toBe(ms);
    expect(parseRetryAfter(h({ "retry-after": String(ms / 1000) }))).toBeCloseTo(ms, 6);
  });

  test("reads an HTTP date and ignores garbage", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter(h({ "retry-after": "Thu, 01 Jan 2026 00:00:07 GMT" }), now)).toBe(7000);
    expect(parseRetryAfter(h({ "retry-after": "soon" }))).toBeUndefined();
    expect(parseRetryAfter(h({}))).toBeUndefined();
  });

  test.prop([fc.integer({ min: 100, max: 599 })])("retries exactly 408, 409, 429 and 5xx", (s) => {
    expect(isRetryableStatus(s)).toBe(s === 408 || s === 409 || s === 429 || s >= 500);
  });
});
