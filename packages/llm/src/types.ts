import type { Message } from "@sfmed/schema";

/** Token usage of one call, as the server reports it. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export interface ChatOptions {
  /** Sampling temperature. @default the server's default */
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
  stop?: string[];
  /** Number of choices to sample. @default 1 */
  n?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Server-specific fields sent as-is in the request body (vLLM `top_k`, `repetition_penalty`, ...). */
  extraBody?: Record<string, unknown>;
  /** Per-request timeout in milliseconds; overrides the model's default. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ChatResult {
  /** One string per choice (`n`). */
  texts: string[];
  finishReasons: string[];
  usage: Usage;
  /** True when the answer came from the on-disk cache. */
  cached: boolean;
  /** The server's `x-request-id`, when it sent one. */
  requestId?: string | undefined;
}

/** A chat model: OpenAI `/v1/chat/completions` or anything with the same shape. */
export interface ChatModel {
  readonly name: string;
  chat(messages: Message[], options?: ChatOptions): Promise<ChatResult>;
}

export interface CompletionOptions extends Omit<ChatOptions, "n"> {
  /** Return per-token log-probabilities of the completion. */
  logprobs?: boolean;
}

export interface CompletionResult {
  text: string;
  finishReason: string;
  tokens?: string[];
  tokenLogprobs?: number[];
  usage: Usage;
  cached: boolean;
}

/** A raw-prompt completion model: OpenAI `/v1/completions` (used by probes: greedy, with log-probs). */
export interface CompletionModel {
  readonly name: string;
  complete(prompt: string, options?: CompletionOptions): Promise<CompletionResult>;
}

export interface EmbeddingOptions {
  /** Hidden layer to read (trainer-py serve extension); omitted means the server's default embedding. */
  layer?: number;
  pooling?: "mean" | "last";
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface EmbeddingModel {
  readonly name: string;
  embed(inputs: string[], options?: EmbeddingOptions): Promise<Float32Array[]>;
}

export interface ScoreItem {
  prompt: Message[];
  response: string;
}

/** A reward model: trainer-py serve's `/v1/score`. */
export interface ScoreModel {
  readonly name: string;
  score(items: ScoreItem[], options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<number[]>;
}
