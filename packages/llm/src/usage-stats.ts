/** Prices for cost accounting, per million tokens. Self-hosted servers cost 0 (the default). */
export interface Pricing {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** What one model object has spent since it was created. */
export interface ModelStats {
  /** Logical calls (chat, complete, embed, score), cached ones included. */
  calls: number;
  /** Calls answered from the on-disk cache. */
  cacheHits: number;
  /** HTTP attempts actually sent. */
  requests: number;
  /** Attempts that were retried. */
  retries: number;
  /** Calls that finally failed. */
  failures: number;
  /** Tokens of live (not cached) calls. */
  promptTokens: number;
  completionTokens: number;
  /** Tokens the cache saved. */
  cachedPromptTokens: number;
  cachedCompletionTokens: number;
  /** Cost of live calls under the configured pricing. */
  cost: number;
  /** Time from the first call to the last answer, in milliseconds. */
  elapsedMs: number;
}

export function emptyStats(): ModelStats {
  return {
    calls: 0,
    cacheHits: 0,
    requests: 0,
    retries: 0,
    failures: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedPromptTokens: 0,
    cachedCompletionTokens: 0,
    cost: 0,
    elapsedMs: 0,
  };
}

/** Cost of some tokens under a pricing. */
export function costOf(promptTokens: number, completionTokens: number, pricing: Pricing | undefined): number {
  if (!pricing) return 0;
  return (promptTokens * pricing.inputPerMillion + completionTokens * pricing.outputPerMillion) / 1e6;
}
