// The HTTP side of an OpenAI-compatible model: cache, budget, rate limit, concurrency, retries, accounting.
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import pLimit, { type LimitFunction } from "p-limit";
import { LlmError, isLlmError } from "./llm-error.js";
import { RateLimiter, type RateLimitOptions } from "./rate-limiter.js";
import { ResponseCache, cacheKey } from "./response-cache.js";
import { backoffDelay, defaultRetry, isRetryableStatus, parseRetryAfter, sleep, type RetryOptions } from "./retry-policy.js";
import { costOf, emptyStats, type ModelStats, type Pricing } from "./usage-stats.js";
import type { Usage } from "./types.js";

/** Caps on what one model object may spend; a call that would pass one throws `LlmError` `BUDGET_EXCEEDED`. */
export interface LlmBudget {
  maxCalls?: number | undefined;
  /** Live prompt + completion tokens. */
  maxTokens?: number | undefined;
  /** Cost under `pricing`. */
  maxCost?: number | undefined;
}

export interface OpenAIModelOptions {
  /** Server root including `/v1`, e.g. `http://127.0.0.1:8000/v1`. */
  baseURL: string;
  /** Bearer token; local servers accept anything. Never logged, never part of a cache key. @default "EMPTY" */
  apiKey?: string | undefined;
  /** Model name sent in every request. */
  model: string;
  /** Requests in flight at once. @default 8 */
  concurrency?: number | undefined;
  /** Requests/tokens per minute limits. @default unlimited */
  rateLimit?: RateLimitOptions | undefined;
  retry?: RetryOptions | undefined;
  /** Per-request timeout in milliseconds (for streams: the longest silence between chunks). @default 120000 */
  timeoutMs?: number | undefined;
  /** Directory of the on-disk response cache; no caching when absent. */
  cacheDir?: string | undefined;
  /** Mixed into every cache key, e.g. to keep two servers serving the same model name apart. @default "" */
  cacheSalt?: string | undefined;
  pricing?: Pricing | undefined;
  budget?: LlmBudget | undefined;
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string> | undefined;
  /** A `fetch` implementation (tests, proxies). @default globalThis.fetch */
  fetch?: typeof globalThis.fetch | undefined;
  /** Source of jitter. @default Math.random */
  random?: (() => number) | undefined;
}

/** A cache entry found for a request, parsed; or only the key under which its answer is to be stored. */
export type CacheLookup<T> = { key: string; hit?: { value: T; usage: Usage; requestId: string | undefined } };

/** One model object's connection: every request goes through {@link OpenAITransport.post} (or its parts, for streams). */
export class OpenAITransport {
  readonly baseURL: string;
  readonly client: OpenAI;
  readonly stats: ModelStats = emptyStats();
  readonly timeoutDefault: number;
  private readonly apiKey: string;
  private readonly retry: Required<RetryOptions>;
  private readonly limit: LimitFunction;
  private readonly limiter: RateLimiter;
  private readonly cache: ResponseCache | undefined;
  private readonly salt: string;
  private readonly random: () => number;
  private firstCallAt: number | undefined;
  /** Calls that passed the budget check and went to the network. */
  private liveCalls = 0;

  constructor(private readonly opts: OpenAIModelOptions) {
    this.baseURL = opts.baseURL.replace(/\/+$/, "");
    this.apiKey = opts.apiKey ?? "EMPTY";
    this.client = new OpenAI({
      baseURL: this.baseURL,
      apiKey: this.apiKey,
      maxRetries: 0,
      timeout: opts.timeoutMs ?? 120_000,
      logLevel: "off",
      ...(opts.headers ? { defaultHeaders: opts.headers } : {}),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    this.retry = { ...defaultRetry, ...opts.retry };
    this.limit = pLimit(opts.concurrency ?? 8);
    this.limiter = new RateLimiter(opts.rateLimit);
    this.cache = opts.cacheDir ? new ResponseCache(opts.cacheDir) : undefined;
    this.salt = opts.cacheSalt ?? "";
    this.random = opts.random ?? Math.random;
    this.timeoutDefault = opts.timeoutMs ?? 120_000;
  }

  /** The message with the API key replaced by `***`. */
  scrub(s: string): string {
    return this.apiKey.length >= 4 ? s.split(this.apiKey).join("***") : s;
  }

  urlOf(endpoint: string): string {
    return `${this.baseURL}${endpoint}`;
  }

  /** Count a call and look its answer up in the cache (a stale or foreign entry is no hit: fetched again). */
  async lookup<T>(endpoint: string, body: Record<string, unknown>, parse: (raw: unknown, requestId: string | undefined) => { value: T; usage: Usage }): Promise<CacheLookup<T>> {
    this.firstCallAt ??= Date.now();
    this.stats.calls++;
    const key = this.cache ? cacheKey(endpoint, body, this.salt) : "";
    const hit = this.cache ? await this.cache.get(key) : undefined;
    if (hit) {
      try {
        const { value, usage } = parse(hit.response, hit.requestId);
        this.stats.cacheHits++;
        this.account(usage, true);
        return { key, hit: { value, usage, requestId: hit.requestId } };
      } catch {
        // A stale or foreign entry: fetch again and overwrite.
      }
    }
    return { key };
  }

  /** Store a paid-for answer; a full disk must not lose it, so a failed write is ignored (the cache is an optimisation). */
  async store(key: string, endpoint: string, raw: unknown, requestId: string | undefined): Promise<void> {
    if (this.cache) await this.cache.set(key, endpoint, raw, requestId).catch(() => undefined);
  }

  /** Let a live call through, or throw `BUDGET_EXCEEDED` (counted as a failure). */
  admit(endpoint: string): void {
    const b = this.opts.budget;
    const s = this.stats;
    const over =
      b !== undefined &&
      ((b.maxCalls !== undefined && this.liveCalls >= b.maxCalls) ||
        (b.maxTokens !== undefined && s.promptTokens + s.completionTokens >= b.maxTokens) ||
        (b.maxCost !== undefined && s.cost >= b.maxCost));
    if (over) {
      s.failures++;
      throw new LlmError(`budget exhausted before ${endpoint} (${describeStats(s)})`, { code: "BUDGET_EXCEEDED", url: this.urlOf(endpoint), attempts: 0 });
    }
    if (b) this.liveCalls++;
  }

  account(usage: Usage, cached: boolean): void {
    const s = this.stats;
    if (cached) {
      s.cachedPromptTokens += usage.promptTokens;
      s.cachedCompletionTokens += usage.completionTokens;
    } else {
      s.promptTokens += usage.promptTokens;
      s.completionTokens += usage.completionTokens;
      s.cost += costOf(usage.promptTokens, usage.completionTokens, this.opts.pricing);
    }
    if (this.firstCallAt !== undefined) s.elapsedMs = Date.now() - this.firstCallAt;
  }

  /** Turn anything thrown by the client into an LlmError and say whether to retry and after how long. */
  classify(err: unknown, endpoint: string, attempts: number, signal?: AbortSignal): { error: LlmError; waitMs?: number | undefined } {
    const url = this.urlOf(endpoint);
    if (isLlmError(err)) return { error: err };
    if (err instanceof APIUserAbortError || signal?.aborted) {
      return { error: new LlmError(`request to ${url} aborted`, { code: "ABORTED", url, attempts, cause: signal?.reason }) };
    }
    if (err instanceof APIConnectionTimeoutError) {
      return { error: new LlmError(`request to ${url} timed out`, { code: "TIMEOUT", url, attempts, retryable: true }) };
    }
    if (err instanceof APIConnectionError) {
      return { error: new LlmError(this.scrub(`connection to ${url} failed: ${err.message}`), { code: "CONNECTION", url, attempts, retryable: true }) };
    }
    if (err instanceof APIError && typeof err.status === "number") {
      const requestId = err.requestID ?? undefined;
      const retryable = isRetryableStatus(err.status) && err.headers?.get("x-should-retry") !== "false";
      return {
        error: new LlmError(this.scrub(`${url} answered ${err.status}: ${err.message}`), { code: "HTTP_ERROR", url, status: err.status, requestId, attempts, retryable }),
        waitMs: retryable ? parseRetryAfter(err.headers) : undefined,
      };
    }
    // The client throws SyntaxError (or similar) for a 2xx body that is not JSON: often a proxy hiccup, so retry.
    const msg = err instanceof Error ? err.message : String(err);
    return { error: new LlmError(this.scrub(`${url} sent an unreadable answer: ${msg}`), { code: "BAD_RESPONSE", url, attempts, retryable: true }) };
  }

  /**
   * Send with limits and retries. `attempt` does one HTTP try under the signal it is given and must validate the
   * body (throw to retry). Each try has its own deadline of `timeoutMs`, covering the body as well as the headers
   * (the client's own timeout stops at the headers, so a server that stalls mid-body would hang forever).
   */
  async withRetries<T>(
    endpoint: string,
    tokenEstimate: number,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    attempt: (attemptSignal: AbortSignal) => Promise<{ value: T; tokens: number }>,
  ): Promise<T> {
    for (let i = 0; ; i++) {
      let waitMs: number | undefined;
      let error: LlmError;
      let timedOut = false;
      try {
        const ticket = await this.limiter.acquire(tokenEstimate, signal);
        this.stats.requests++;
        const { value, tokens } = await this.limit(async () => {
          signal?.throwIfAborted();
          const deadline = new AbortController();
          const timer = setTimeout(() => {
            timedOut = true;
            deadline.abort(new Error("request timed out"));
          }, timeoutMs);
          try {
            return await attempt(signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal);
          } finally {
            clearTimeout(timer);
          }
        });
        ticket.settle(tokens);
        return value;
      } catch (err) {
        if (timedOut && !signal?.aborted) {
          error = new LlmError(`request to ${this.urlOf(endpoint)} timed out after ${timeoutMs} ms`, { code: "TIMEOUT", url: this.urlOf(endpoint), attempts: i + 1, retryable: true });
          waitMs = undefined;
        } else ({ error, waitMs } = this.classify(err, endpoint, i + 1, signal));
      }
      if (!error.retryable || i >= this.retry.maxRetries) {
        this.stats.failures++;
        throw attemptsSet(error, i + 1);
      }
      const wait = waitMs !== undefined ? Math.min(waitMs, this.retry.maxRetryAfterMs) : backoffDelay(i, this.retry, this.random);
      if (error.status === 429 && waitMs !== undefined) this.limiter.pauseUntil(Date.now() + wait);
      this.stats.retries++;
      try {
        await sleep(wait, signal);
      } catch {
        this.stats.failures++;
        throw new LlmError(`request to ${this.urlOf(endpoint)} aborted`, { code: "ABORTED", url: this.urlOf(endpoint), attempts: i + 1, cause: signal?.reason });
      }
    }
  }

  badResponse(endpoint: string, what: string, requestId?: string): LlmError {
    return new LlmError(`${this.urlOf(endpoint)} sent an unexpected answer: ${what}`, { code: "BAD_RESPONSE", url: this.urlOf(endpoint), requestId, retryable: true });
  }

  /** POST a JSON body through cache, budget, limits and retries; `parse` validates and may throw to retry. */
  async post<T>(
    endpoint: string,
    body: Record<string, unknown>,
    o: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined; tokenEstimate: number },
    parse: (raw: unknown, requestId: string | undefined) => { value: T; usage: Usage },
  ): Promise<{ value: T; cached: boolean; requestId: string | undefined }> {
    const { key, hit } = await this.lookup(endpoint, body, parse);
    if (hit) return { value: hit.value, cached: true, requestId: hit.requestId };
    this.admit(endpoint);
    const timeoutMs = o.timeoutMs ?? this.timeoutDefault;
    const result = await this.withRetries(endpoint, o.tokenEstimate, o.signal, timeoutMs, async (attemptSignal) => {
      const { data, response } = await this.client
        // Our deadline fires first; the client's timeout is only a backstop.
        .post<unknown>(endpoint, { body, maxRetries: 0, timeout: timeoutMs + 1000, signal: attemptSignal })
        .withResponse();
      const requestId = response.headers.get("x-request-id") ?? undefined;
      const { value, usage } = parse(data, requestId);
      return { value: { value, usage, raw: data, requestId }, tokens: usage.promptTokens + usage.completionTokens };
    });
    this.account(result.usage, false);
    await this.store(key, endpoint, result.raw, result.requestId);
    return { value: result.value, cached: false, requestId: result.requestId };
  }

}

function attemptsSet(e: LlmError, attempts: number): LlmError {
  if (e.attempts === attempts) return e;
  return new LlmError(e.message, { code: e.code, url: e.url, status: e.status, requestId: e.requestId, attempts, retryable: e.retryable, cause: e.cause });
}

function describeStats(s: ModelStats): string {
  return `${s.requests} requests, ${s.promptTokens + s.completionTokens} tokens, cost ${s.cost.toFixed(4)}`;
}
