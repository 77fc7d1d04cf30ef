/** How failed attempts are retried. */
export interface RetryOptions {
  /** Retries after the first attempt. @default 5 */
  maxRetries?: number;
  /** Backoff before retry k is about `baseDelayMs · 2^k`, capped at `maxDelayMs`, with jitter. @default 500 */
  baseDelayMs?: number;
  /** @default 20000 */
  maxDelayMs?: number;
  /** A server's Retry-After above this is clamped to it. @default 60000 */
  maxRetryAfterMs?: number;
}

export const defaultRetry: Required<RetryOptions> = {
  maxRetries: 5,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 60_000,
};

/** HTTP statuses worth another try: request timeout, conflict, rate limit, server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * Milliseconds a server asked us to wait, from `retry-after-ms`, or `retry-after` as seconds or an HTTP date.
 * Undefined when absent or unparsable.
 */
export function parseRetryAfter(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "") {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return v;
  }
  const ra = headers.get("retry-after");
  if (ra === null || ra.trim() === "") return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs)) return secs >= 0 ? secs * 1000 : undefined;
  const date = Date.parse(ra);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * Delay before retry number `attempt` (0-based): exponential growth with "equal jitter" (half fixed, half
 * random) so that many clients hit by the same 429 burst do not come back in lockstep.
 */
export function backoffDelay(attempt: number, opts: Required<RetryOptions>, random: () => number = Math.random): number {
  const d = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
  return d / 2 + random() * (d / 2);
}

/** Sleep that ends early (rejecting with the signal's reason) when the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 && !signal?.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
