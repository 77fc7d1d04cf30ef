import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import pLimit from "p-limit";
import type { Message } from "@sfmed/schema";
import { LlmError, isLlmError, type LlmErrorCode } from "./llm-error.js";
import { RateLimiter, type RateLimitOptions } from "./rate-limiter.js";
import { ResponseCache, cacheKey } from "./response-cache.js";
import { backoffDelay, defaultRetry, isRetryableStatus, parseRetryAfter, sleep, type RetryOptions } from "./retry-policy.js";
import { costOf, emptyStats, type ModelStats, type Pricing } from "./usage-stats.js";
import type {
  ChatModel,
  ChatOptions,
  ChatResult,
  CompletionModel,
  CompletionResult,
  EmbeddingModel,
  ScoreItem,
  ScoreModel,
  Usage,
} from "./types.js";

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

/** One event of {@link OpenAIModel.streamChat}: text as it arrives, then the whole result. */
export type ChatStreamEvent = { type: "delta"; text: string } | { type: "done"; result: ChatResult };

/** The OpenAI-compatible implementation of every model interface. */
export interface OpenAIModel extends ChatModel, CompletionModel, EmbeddingModel, ScoreModel {
  readonly baseURL: string;
  /** Stream a chat answer (one choice). Retries only before the first chunk; caches the finished answer. */
  streamChat(messages: Message[], options?: Omit<ChatOptions, "n">): AsyncGenerator<ChatStreamEvent, void, undefined>;
  /** Token usage, cost, cache hits and retries so far. */
  stats(): ModelStats;
}

interface RawChat {
  choices: Array<{ message?: { content?: string | null }; finish_reason?: string | null; text?: string; logprobs?: unknown }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

const DEFAULT_MAX_TOKENS_ESTIMATE = 512;

/**
 * Create one object that is a {@link ChatModel}, {@link CompletionModel}, {@link EmbeddingModel} and
 * {@link ScoreModel} against an OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI, trainer-py serve).
 *
 * Every call: cache lookup → budget check → rate limiter → concurrency slot → HTTP (official `openai` client,
 * its own retries off) → on 408/409/429/5xx, timeouts and connection errors, wait (Retry-After when sent, else
 * exponential backoff with jitter) and try again → cache the successful JSON → account tokens and cost.
 *
 * @throws {LlmError} from the calls, with `status`, `url`, `requestId`; the API key never appears in it.
 */
export function createOpenAIModel(opts: OpenAIModelOptions): OpenAIModel {
  const baseURL = opts.baseURL.replace(/\/+$/, "");
  const apiKey = opts.apiKey ?? "EMPTY";
  const client = new OpenAI({
    baseURL,
    apiKey,
    maxRetries: 0,
    timeout: opts.timeoutMs ?? 120_000,
    logLevel: "off",
    ...(opts.headers ? { defaultHeaders: opts.headers } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const retry = { ...defaultRetry, ...opts.retry };
  const limit = pLimit(opts.concurrency ?? 8);
  const limiter = new RateLimiter(opts.rateLimit);
  const cache = opts.cacheDir ? new ResponseCache(opts.cacheDir) : undefined;
  const salt = opts.cacheSalt ?? "";
  const random = opts.random ?? Math.random;
  const timeoutDefault = opts.timeoutMs ?? 120_000;
  const stats = emptyStats();
  let firstCallAt: number | undefined;
  // Calls that passed the budget check and went to the network.
  let liveCalls = 0;

  const scrub = (s: string): string => (apiKey.length >= 4 ? s.split(apiKey).join("***") : s);
  const urlOf = (endpoint: string) => `${baseURL}${endpoint}`;

  function checkBudget(endpoint: string): void {
    const b = opts.budget;
    if (!b) return;
    const over =
      (b.maxCalls !== undefined && liveCalls >= b.maxCalls) ||
      (b.maxTokens !== undefined && stats.promptTokens + stats.completionTokens >= b.maxTokens) ||
      (b.maxCost !== undefined && stats.cost >= b.maxCost);
    if (over) throw new LlmError(`budget exhausted before ${endpoint} (${describeStats(stats)})`, { code: "BUDGET_EXCEEDED", url: urlOf(endpoint), attempts: 0 });
    liveCalls++;
  }

  function account(usage: Usage, cached: boolean): void {
    if (cached) {
      stats.cachedPromptTokens += usage.promptTokens;
      stats.cachedCompletionTokens += usage.completionTokens;
    } else {
      stats.promptTokens += usage.promptTokens;
      stats.completionTokens += usage.completionTokens;
      stats.cost += costOf(usage.promptTokens, usage.completionTokens, opts.pricing);
    }
    if (firstCallAt !== undefined) stats.elapsedMs = Date.now() - firstCallAt;
  }

  /** Turn anything thrown by the client into an LlmError and say whether to retry and after how long. */
  function classify(err: unknown, endpoint: string, attempts: number, signal?: AbortSignal): { error: LlmError; waitMs?: number | undefined } {
    const url = urlOf(endpoint);
    if (isLlmError(err)) return { error: err };
    if (err instanceof APIUserAbortError || signal?.aborted) {
      return { error: new LlmError(`request to ${url} aborted`, { code: "ABORTED", url, attempts, cause: signal?.reason }) };
    }
    if (err instanceof APIConnectionTimeoutError) {
      return { error: new LlmError(`request to ${url} timed out`, { code: "TIMEOUT", url, attempts, retryable: true }) };
    }
    if (err instanceof APIConnectionError) {
      return { error: new LlmError(scrub(`connection to ${url} failed: ${err.message}`), { code: "CONNECTION", url, attempts, retryable: true }) };
    }
    if (err instanceof APIError && typeof err.status === "number") {
      const requestId = err.requestID ?? undefined;
      const retryable = isRetryableStatus(err.status) && err.headers?.get("x-should-retry") !== "false";
      return {
        error: new LlmError(scrub(`${url} answered ${err.status}: ${err.message}`), { code: "HTTP_ERROR", url, status: err.status, requestId, attempts, retryable }),
        waitMs: retryable ? parseRetryAfter(err.headers) : undefined,
      };
    }
    // The client throws SyntaxError (or similar) for a 2xx body that is not JSON: often a proxy hiccup, so retry.
    const msg = err instanceof Error ? err.message : String(err);
    return { error: new LlmError(scrub(`${url} sent an unreadable answer: ${msg}`), { code: "BAD_RESPONSE", url, attempts, retryable: true }) };
  }

  /**
   * Send with limits and retries. `attempt` does one HTTP try under the signal it is given and must validate the
   * body (throw to retry). Each try has its own deadline of `timeoutMs`, covering the body as well as the headers
   * (the client's own timeout stops at the headers, so a server that stalls mid-body would hang forever).
   */
  async function withRetries<T>(
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
        const ticket = await limiter.acquire(tokenEstimate, signal);
        stats.requests++;
        const { value, tokens } = await limit(async () => {
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
          error = new LlmError(`request to ${urlOf(endpoint)} timed out after ${timeoutMs} ms`, { code: "TIMEOUT", url: urlOf(endpoint), attempts: i + 1, retryable: true });
          waitMs = undefined;
        } else ({ error, waitMs } = classify(err, endpoint, i + 1, signal));
      }
      if (!error.retryable || i >= retry.maxRetries) {
        stats.failures++;
        throw attemptsSet(error, i + 1);
      }
      const wait = waitMs !== undefined ? Math.min(waitMs, retry.maxRetryAfterMs) : backoffDelay(i, retry, random);
      if (error.status === 429 && waitMs !== undefined) limiter.pauseUntil(Date.now() + wait);
      stats.retries++;
      try {
        await sleep(wait, signal);
      } catch {
        stats.failures++;
        throw new LlmError(`request to ${urlOf(endpoint)} aborted`, { code: "ABORTED", url: urlOf(endpoint), attempts: i + 1, cause: signal?.reason });
      }
    }
  }

  function badResponse(endpoint: string, what: string, requestId?: string): LlmError {
    return new LlmError(`${urlOf(endpoint)} sent an unexpected answer: ${what}`, { code: "BAD_RESPONSE", url: urlOf(endpoint), requestId, retryable: true });
  }

  /** POST a JSON body through cache, budget, limits and retries; `parse` validates and may throw to retry. */
  async function post<T>(
    endpoint: string,
    body: Record<string, unknown>,
    o: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined; tokenEstimate: number },
    parse: (raw: unknown, requestId: string | undefined) => { value: T; usage: Usage },
  ): Promise<{ value: T; cached: boolean; requestId: string | undefined }> {
    firstCallAt ??= Date.now();
    stats.calls++;
    const key = cache ? cacheKey(endpoint, body, salt) : "";
    if (cache) {
      const hit = await cache.get(key);
      if (hit) {
        try {
          const { value, usage } = parse(hit.response, hit.requestId);
          stats.cacheHits++;
          account(usage, true);
          return { value, cached: true, requestId: hit.requestId };
        } catch {
          // A stale or foreign entry: fetch again and overwrite.
        }
      }
    }
    try {
      checkBudget(endpoint);
    } catch (e) {
      stats.failures++;
      throw e;
    }
    const timeoutMs = o.timeoutMs ?? timeoutDefault;
    const result = await withRetries(endpoint, o.tokenEstimate, o.signal, timeoutMs, async (attemptSignal) => {
      const { data, response } = await client
        // Our deadline fires first; the client's timeout is only a backstop.
        .post<unknown>(endpoint, { body, maxRetries: 0, timeout: timeoutMs + 1000, signal: attemptSignal })
        .withResponse();
      const requestId = response.headers.get("x-request-id") ?? undefined;
      const { value, usage } = parse(data, requestId);
      return { value: { value, usage, raw: data, requestId }, tokens: usage.promptTokens + usage.completionTokens };
    });
    account(result.usage, false);
    // A full disk must not lose an answer already paid for: the cache is an optimisation.
    if (cache) await cache.set(key, endpoint, result.raw, result.requestId).catch(() => undefined);
    return { value: result.value, cached: false, requestId: result.requestId };
  }

  function usageOf(raw: RawChat): Usage {
    return { promptTokens: raw.usage?.prompt_tokens ?? 0, completionTokens: raw.usage?.completion_tokens ?? 0 };
  }

  function chatBody(messages: Message[], o: ChatOptions, stream: boolean): Record<string, unknown> {
    return {
      ...o.extraBody,
      model: opts.model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      temperature: o.temperature,
      top_p: o.topP,
      max_tokens: o.maxTokens,
      seed: o.seed,
      stop: o.stop,
      n: o.n,
      presence_penalty: o.presencePenalty,
      frequency_penalty: o.frequencyPenalty,
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
  }

  const estimate = (chars: number, maxTokens: number | undefined, n = 1) => Math.ceil(chars / 2) + (maxTokens ?? DEFAULT_MAX_TOKENS_ESTIMATE) * n;
  const charsOf = (messages: Message[]) => messages.reduce((s, m) => s + m.content.length, 0);

  function parseChat(endpoint: string) {
    return (data: unknown, requestId: string | undefined): { value: Omit<ChatResult, "cached">; usage: Usage } => {
      const raw = data as RawChat;
      if (!raw || !Array.isArray(raw.choices) || raw.choices.length === 0) throw badResponse(endpoint, "no choices", requestId);
      const texts = raw.choices.map((c) => c.message?.content ?? "");
      const finishReasons = raw.choices.map((c) => c.finish_reason ?? "unknown");
      const usage = usageOf(raw);
      return { value: { texts, finishReasons, usage, requestId }, usage };
    };
  }

  const model: OpenAIModel = {
    name: opts.model,
    baseURL,

    async chat(messages, options = {}) {
      const body = chatBody(messages, options, false);
      // Strip undefined so that the cache key and the wire body agree.
      const clean = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
      const r = await post(
        "/chat/completions",
        clean,
        { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(charsOf(messages), options.maxTokens, options.n) },
        parseChat("/chat/completions"),
      );
      return { ...r.value, cached: r.cached };
    },

    async complete(prompt, options = {}) {
      const { logprobs, ...rest } = options;
      const body = JSON.parse(
        JSON.stringify({
          ...rest.extraBody,
          model: opts.model,
          prompt,
          temperature: rest.temperature,
          top_p: rest.topP,
          max_tokens: rest.maxTokens,
          seed: rest.seed,
          stop: rest.stop,
          presence_penalty: rest.presencePenalty,
          frequency_penalty: rest.frequencyPenalty,
          logprobs: logprobs ? 1 : undefined,
        }),
      ) as Record<string, unknown>;
      const r = await post(
        "/completions",
        body,
        { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(prompt.length, options.maxTokens) },
        (data, requestId) => {
          const raw = data as RawChat;
          const c = raw?.choices?.[0];
          if (!c || typeof c.text !== "string") throw badResponse("/completions", "no choices[0].text", requestId);
          const lp = c.logprobs as { tokens?: string[]; token_logprobs?: Array<number | null> } | null | undefined;
          const usage = usageOf(raw);
          const value: Omit<CompletionResult, "cached"> = { text: c.text, finishReason: c.finish_reason ?? "unknown", usage };
          if (lp?.tokens) value.tokens = lp.tokens;
          if (lp?.token_logprobs) value.tokenLogprobs = lp.token_logprobs.map((x) => x ?? Number.NaN);
          return { value, usage };
        },
      );
      return { ...r.value, cached: r.cached };
    },

    async embed(inputs, options = {}) {
      const body = JSON.parse(
        JSON.stringify({ model: opts.model, input: inputs, encoding_format: "float", layer: options.layer, pooling: options.pooling }),
      ) as Record<string, unknown>;
      const r = await post(
        "/embeddings",
        body,
        { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(inputs.reduce((s, x) => s + x.length, 0), 0) },
        (data, requestId) => {
          const raw = data as { data?: Array<{ index?: number; embedding?: unknown }>; usage?: { prompt_tokens?: number } };
          if (!raw || !Array.isArray(raw.data) || raw.data.length !== inputs.length) throw badResponse("/embeddings", `expected ${inputs.length} embeddings`, requestId);
          const sorted = [...raw.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
          const value = sorted.map((d) => {
            if (!Array.isArray(d.embedding)) throw badResponse("/embeddings", "embedding is not a number array", requestId);
            return Float32Array.from(d.embedding as number[]);
          });
          return { value, usage: { promptTokens: raw.usage?.prompt_tokens ?? 0, completionTokens: 0 } };
        },
      );
      return r.value;
    },

    async score(items: ScoreItem[], options = {}) {
      const body = { model: opts.model, items: items.map((it) => ({ prompt: it.prompt.map((m) => ({ role: m.role, content: m.content })), response: it.response })) };
      const chars = items.reduce((s, it) => s + charsOf(it.prompt) + it.response.length, 0);
      const r = await post("/score", body, { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(chars, 0) }, (data, requestId) => {
        const raw = data as { scores?: unknown; usage?: { prompt_tokens?: number } };
        if (!raw || !Array.isArray(raw.scores) || raw.scores.length !== items.length || !raw.scores.every((x) => typeof x === "number")) {
          throw badResponse("/score", `expected ${items.length} numeric scores`, requestId);
        }
        return { value: raw.scores as number[], usage: { promptTokens: raw.usage?.prompt_tokens ?? 0, completionTokens: 0 } };
      });
      return r.value;
    },

    async *streamChat(messages, options = {}) {
      const endpoint = "/chat/completions";
      const url = urlOf(endpoint);
      firstCallAt ??= Date.now();
      stats.calls++;
      const plain = JSON.parse(JSON.stringify(chatBody(messages, options, false))) as Record<string, unknown>;
      // Cached under the same key as a non-streamed chat with the same parameters.
      const key = cache ? cacheKey(endpoint, plain, salt) : "";
      const hit = cache ? await cache.get(key) : undefined;
      if (hit) {
        try {
          const { value, usage } = parseChat(endpoint)(hit.response, hit.requestId);
          stats.cacheHits++;
          account(usage, true);
          yield { type: "delta", text: value.texts[0] ?? "" };
          yield { type: "done", result: { ...value, cached: true } };
          return;
        } catch {
          // refetch
        }
      }
      try {
        checkBudget(endpoint);
      } catch (e) {
        stats.failures++;
        throw e;
      }
      const body = { ...plain, stream: true, stream_options: { include_usage: true } };
      const idleMs = options.timeoutMs ?? timeoutDefault;
      // The stream's own controller, so a silent server can be cut off between chunks.
      const ctl = new AbortController();
      const onAbort = () => ctl.abort(options.signal?.reason);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      let idleTimer: NodeJS.Timeout | undefined;
      let timedOut = false;
      let lastChunkAt = Date.now();
      const arm = () => {
        lastChunkAt = Date.now();
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          timedOut = true;
          ctl.abort(new Error("stream idle timeout"));
        }, idleMs);
      };
      let opened: { stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>; requestId: string | undefined } | undefined;
      try {
        opened = await withRetries(endpoint, estimate(charsOf(messages), options.maxTokens), options.signal, idleMs, async (attemptSignal) => {
          // The attempt's deadline covers opening the stream; after that the idle timer watches it.
          const { data, response } = await client.chat.completions
            .create(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming, {
              maxRetries: 0,
              timeout: idleMs + 1000,
              signal: AbortSignal.any([attemptSignal, ctl.signal]),
            })
            .withResponse();
          return { value: { stream: data, requestId: response.headers.get("x-request-id") ?? undefined }, tokens: 0 };
        });
        let text = "";
        let finish: string | undefined;
        let usage: Usage = { promptTokens: 0, completionTokens: 0 };
        arm();
        try {
          for await (const chunk of opened.stream) {
            arm();
            const c = chunk.choices?.[0];
            if (c?.delta?.content) {
              text += c.delta.content;
              yield { type: "delta", text: c.delta.content };
            }
            if (c?.finish_reason) finish = c.finish_reason;
            if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens ?? 0, completionTokens: chunk.usage.completion_tokens ?? 0 };
          }
        } catch (err) {
          if (options.signal?.aborted) throw new LlmError(`stream from ${url} aborted`, { code: "ABORTED", url, cause: options.signal.reason });
          // The client's own timer may win the race against ours; silence as long as the limit means a timeout.
          const code: LlmErrorCode = timedOut || Date.now() - lastChunkAt >= idleMs - 5 ? "TIMEOUT" : "STREAM_INTERRUPTED";
          const msg = err instanceof Error ? err.message : String(err);
          throw new LlmError(scrub(`stream from ${url} broke off after ${text.length} characters: ${msg}`), { code, url, requestId: opened!.requestId, retryable: true });
        }
        // The SDK ends the iteration quietly when its controller aborts, so look at why it stopped.
        if (options.signal?.aborted) throw new LlmError(`stream from ${url} aborted`, { code: "ABORTED", url, cause: options.signal.reason });
        if (timedOut) {
          throw new LlmError(`stream from ${url} was silent for ${idleMs} ms after ${text.length} characters`, { code: "TIMEOUT", url, requestId: opened.requestId, retryable: true });
        }
        if (finish === undefined) {
          throw new LlmError(`stream from ${url} ended without a finish reason after ${text.length} characters`, { code: "STREAM_INTERRUPTED", url, requestId: opened.requestId, retryable: true });
        }
        account(usage, false);
        const result: ChatResult = { texts: [text], finishReasons: [finish], usage, cached: false, requestId: opened.requestId };
        if (cache) {
          const raw = { choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }], usage: { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens } };
          await cache.set(key, endpoint, raw, opened.requestId).catch(() => undefined);
        }
        yield { type: "done", result };
      } catch (err) {
        // Failures before the stream opened were counted by withRetries.
        if (opened) stats.failures++;
        throw err;
      } finally {
        clearTimeout(idleTimer);
        options.signal?.removeEventListener("abort", onAbort);
      }
    },

    stats() {
      return { ...stats };
    },
  };
  return model;
}

function attemptsSet(e: LlmError, attempts: number): LlmError {
  if (e.attempts === attempts) return e;
  return new LlmError(e.message, { code: e.code, url: e.url, status: e.status, requestId: e.requestId, attempts, retryable: e.retryable, cause: e.cause });
}

function describeStats(s: ModelStats): string {
  return `${s.requests} requests, ${s.promptTokens + s.completionTokens} tokens, cost ${s.cost.toFixed(4)}`;
}
