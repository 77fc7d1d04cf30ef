// The four request kinds of an OpenAI-compatible server — chat, completion, embeddings, /score — as bodies sent
// through the transport and answers checked for shape (a malformed answer is retried as BAD_RESPONSE).
import type { Message } from "@sfmed/schema";
import type { OpenAITransport } from "./openai-transport.js";
import type { ChatOptions, ChatResult, CompletionOptions, CompletionResult, EmbeddingOptions, ScoreItem, Usage } from "./types.js";

interface RawChat {
  choices: Array<{ message?: { content?: string | null }; finish_reason?: string | null; text?: string; logprobs?: unknown }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

const DEFAULT_MAX_TOKENS_ESTIMATE = 512;

/** Tokens a request may use, for the rate limiter: about two characters a token plus the answer budget. */
export const estimate = (chars: number, maxTokens: number | undefined, n = 1) => Math.ceil(chars / 2) + (maxTokens ?? DEFAULT_MAX_TOKENS_ESTIMATE) * n;
export const charsOf = (messages: Message[]) => messages.reduce((s, m) => s + m.content.length, 0);
/** The body without undefined values, so that the cache key and the wire body agree. */
const clean = (body: Record<string, unknown>) => JSON.parse(JSON.stringify(body)) as Record<string, unknown>;

function usageOf(raw: RawChat): Usage {
  return { promptTokens: raw.usage?.prompt_tokens ?? 0, completionTokens: raw.usage?.completion_tokens ?? 0 };
}

export function chatBody(model: string, messages: Message[], o: ChatOptions, stream: boolean): Record<string, unknown> {
  return {
    ...o.extraBody,
    model,
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

export function parseChat(t: OpenAITransport, endpoint: string) {
  return (data: unknown, requestId: string | undefined): { value: Omit<ChatResult, "cached">; usage: Usage } => {
    const raw = data as RawChat;
    if (!raw || !Array.isArray(raw.choices) || raw.choices.length === 0) throw t.badResponse(endpoint, "no choices", requestId);
    const texts = raw.choices.map((c) => c.message?.content ?? "");
    const finishReasons = raw.choices.map((c) => c.finish_reason ?? "unknown");
    const usage = usageOf(raw);
    return { value: { texts, finishReasons, usage, requestId }, usage };
  };
}

export async function chat(t: OpenAITransport, model: string, messages: Message[], options: ChatOptions = {}): Promise<ChatResult> {
  const body = clean(chatBody(model, messages, options, false));
  const o = { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(charsOf(messages), options.maxTokens, options.n) };
  const r = await t.post("/chat/completions", body, o, parseChat(t, "/chat/completions"));
  return { ...r.value, cached: r.cached };
}

export async function complete(t: OpenAITransport, model: string, prompt: string, options: CompletionOptions = {}): Promise<CompletionResult> {
  const { logprobs, ...rest } = options;
  const body = clean({
    ...rest.extraBody,
    model,
    prompt,
    temperature: rest.temperature,
    top_p: rest.topP,
    max_tokens: rest.maxTokens,
    seed: rest.seed,
    stop: rest.stop,
    presence_penalty: rest.presencePenalty,
    frequency_penalty: rest.frequencyPenalty,
    logprobs: logprobs ? 1 : undefined,
  });
  const o = { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(prompt.length, options.maxTokens) };
  const r = await t.post("/completions", body, o, (data, requestId) => {
    const raw = data as RawChat;
    const c = raw?.choices?.[0];
    if (!c || typeof c.text !== "string") throw t.badResponse("/completions", "no choices[0].text", requestId);
    const lp = c.logprobs as { tokens?: string[]; token_logprobs?: Array<number | null> } | null | undefined;
    const usage = usageOf(raw);
    const value: Omit<CompletionResult, "cached"> = { text: c.text, finishReason: c.finish_reason ?? "unknown", usage };
    if (lp?.tokens) value.tokens = lp.tokens;
    if (lp?.token_logprobs) value.tokenLogprobs = lp.token_logprobs.map((x) => x ?? Number.NaN);
    return { value, usage };
  });
  return { ...r.value, cached: r.cached };
}

export async function embed(t: OpenAITransport, model: string, inputs: string[], options: EmbeddingOptions = {}): Promise<Float32Array[]> {
  const body = clean({ model, input: inputs, encoding_format: "float", layer: options.layer, pooling: options.pooling });
  const o = { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(inputs.reduce((s, x) => s + x.length, 0), 0) };
  const r = await t.post("/embeddings", body, o, (data, requestId) => {
    const raw = data as { data?: Array<{ index?: number; embedding?: unknown }>; usage?: { prompt_tokens?: number } };
    if (!raw || !Array.isArray(raw.data) || raw.data.length !== inputs.length) throw t.badResponse("/embeddings", `expected ${inputs.length} embeddings`, requestId);
    const sorted = [...raw.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    const value = sorted.map((d) => {
      if (!Array.isArray(d.embedding)) throw t.badResponse("/embeddings", "embedding is not a number array", requestId);
      return Float32Array.from(d.embedding as number[]);
    });
    return { value, usage: { promptTokens: raw.usage?.prompt_tokens ?? 0, completionTokens: 0 } };
  });
  return r.value;
}

export async function score(t: OpenAITransport, model: string, items: ScoreItem[], options: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined } = {}): Promise<number[]> {
  const body = { model, items: items.map((it) => ({ prompt: it.prompt.map((m) => ({ role: m.role, content: m.content })), response: it.response })) };
  const chars = items.reduce((s, it) => s + charsOf(it.prompt) + it.response.length, 0);
  const r = await t.post("/score", body, { signal: options.signal, timeoutMs: options.timeoutMs, tokenEstimate: estimate(chars, 0) }, (data, requestId) => {
    const raw = data as { scores?: unknown; usage?: { prompt_tokens?: number } };
    if (!raw || !Array.isArray(raw.scores) || raw.scores.length !== items.length || !raw.scores.every((x) => typeof x === "number")) {
      throw t.badResponse("/score", `expected ${items.length} numeric scores`, requestId);
    }
    return { value: raw.scores as number[], usage: { promptTokens: raw.usage?.prompt_tokens ?? 0, completionTokens: 0 } };
  });
  return r.value;
}
