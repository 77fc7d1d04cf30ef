import type { Message } from "@sfmed/schema";
import { chat, complete, embed, score } from "./openai-requests.js";
import { streamChat, type ChatStreamEvent } from "./openai-stream.js";
import { OpenAITransport, type OpenAIModelOptions } from "./openai-transport.js";
import type { ChatModel, ChatOptions, CompletionModel, EmbeddingModel, ScoreModel } from "./types.js";
import type { ModelStats } from "./usage-stats.js";

export type { LlmBudget, OpenAIModelOptions } from "./openai-transport.js";
export type { ChatStreamEvent } from "./openai-stream.js";

/** The OpenAI-compatible implementation of every model interface. */
export interface OpenAIModel extends ChatModel, CompletionModel, EmbeddingModel, ScoreModel {
  readonly baseURL: string;
  /** Stream a chat answer (one choice). Retries only before the first chunk; caches the finished answer. */
  streamChat(messages: Message[], options?: Omit<ChatOptions, "n">): AsyncGenerator<ChatStreamEvent, void, undefined>;
  /** Token usage, cost, cache hits and retries so far. */
  stats(): ModelStats;
}

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
  const t = new OpenAITransport(opts);
  const name = opts.model;
  return {
    name,
    baseURL: t.baseURL,
    chat: (messages, options) => chat(t, name, messages, options),
    complete: (prompt, options) => complete(t, name, prompt, options),
    embed: (inputs, options) => embed(t, name, inputs, options),
    score: (items, options) => score(t, name, items, options),
    streamChat: (messages, options) => streamChat(t, name, messages, options),
    stats: () => ({ ...t.stats }),
  };
}
