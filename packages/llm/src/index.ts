export type {
  Usage,
  ChatOptions,
  ChatResult,
  ChatModel,
  CompletionOptions,
  CompletionResult,
  CompletionModel,
  EmbeddingOptions,
  EmbeddingModel,
  ScoreItem,
  ScoreModel,
} from "./types.js";
export { createOpenAIModel, type OpenAIModel, type OpenAIModelOptions, type ChatStreamEvent, type LlmBudget } from "./openai-model.js";
export { LlmError, isLlmError, type LlmErrorCode, type LlmErrorInit } from "./llm-error.js";
export { RateLimiter, type RateLimitOptions, type RateTicket } from "./rate-limiter.js";
export { ResponseCache, cacheKey, stableStringify } from "./response-cache.js";
export { backoffDelay, parseRetryAfter, isRetryableStatus, type RetryOptions } from "./retry-policy.js";
export { costOf, type ModelStats, type Pricing } from "./usage-stats.js";
export { choicePrompt, promptOfRecord, sampleAnswers, type RecordLocation } from "./prompts.js";
