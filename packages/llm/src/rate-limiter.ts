import { sleep } from "./retry-policy.js";

export interface RateLimitOptions {
  /** Requests allowed in any sliding window. Unlimited when absent. */
  requestsPerMinute?: number | undefined;
  /** Tokens (prompt estimate + max completion) allowed in any sliding window. Unlimited when absent. */
  tokensPerMinute?: number | undefined;
  /** Window length; tests shorten it. @default 60000 */
  windowMs?: number | undefined;
}

/** A grant from {@link RateLimiter.acquire}; settle it with the real token count once known. */
export interface RateTicket {
  settle(actualTokens: number): void;
}

const noTicket: RateTicket = { settle() {} };

interface Entry {
  t: number;
  tokens: number;
}

/**
 * Sliding-window limiter for requests and tokens per minute, granting in arrival order. A token estimate is
 * booked up front and corrected with the server's usage afterwards. `pauseUntil` holds every caller back after
 * a 429 with Retry-After, so one rate-limited request slows the whole pool instead of each retrying alone.
 */
export class RateLimiter {
  readonly #rpm: number;
  readonly #tpm: number;
  readonly #window: number;
  #entries: Entry[] = [];
  #queue: Promise<void> = Promise.resolve();
  #pausedUntil = 0;

  constructor(opts: RateLimitOptions = {}) {
    this.#rpm = opts.requestsPerMinute ?? Infinity;
    this.#tpm = opts.tokensPerMinute ?? Infinity;
    this.#window = opts.windowMs ?? 60_000;
    if (!(this.#rpm > 0) || !(this.#tpm > 0)) throw new RangeError("requestsPerMinute and tokensPerMinute must be positive");
  }

  /** Make every later `acquire` wait until `timeMs` (epoch ms). */
  pauseUntil(timeMs: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, timeMs);
  }

  /** Wait for a slot for one request of about `tokens` tokens. @throws the signal's reason when aborted */
  acquire(tokens: number, signal?: AbortSignal): Promise<RateTicket> {
    // Without limits there is nothing to book; only a pause can hold the caller.
    if (this.#rpm === Infinity && this.#tpm === Infinity && this.#pausedUntil <= Date.now()) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return Promise.resolve(noTicket);
    }
    const run = this.#queue.then(() => this.#wait(tokens, signal));
    // The queue continues even if this caller aborts.
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #wait(tokens: number, signal?: AbortSignal): Promise<RateTicket> {
    for (;;) {
      signal?.throwIfAborted();
      const now = Date.now();
      if (this.#pausedUntil > now) {
        await sleep(this.#pausedUntil - now, signal);
        continue;
      }
      this.#entries = this.#entries.filter((e) => e.t > now - this.#window);
      const used = this.#entries.reduce((s, e) => s + e.tokens, 0);
      const fitsRequests = this.#entries.length + 1 <= this.#rpm;
      // A single request bigger than the whole token budget goes alone into an empty window.
      const fitsTokens = used + tokens <= this.#tpm || this.#entries.length === 0;
      if (fitsRequests && fitsTokens) {
        const entry: Entry = { t: now, tokens };
        this.#entries.push(entry);
        return {
          settle(actual: number) {
            if (Number.isFinite(actual) && actual >= 0) entry.tokens = actual;
          },
        };
      }
      const oldest = this.#entries[0]!;
      await sleep(Math.max(1, oldest.t + this.#window - now), signal);
    }
  }
}
