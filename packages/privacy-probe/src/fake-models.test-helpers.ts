import type { CompletionModel, CompletionOptions, CompletionResult, EmbeddingModel, EmbeddingOptions } from "@sfmed/llm";

/**
 * A fake completion model that has memorized some documents: when the prompt ends with the start of one of them it
 * continues that document verbatim (log-prob −0.05 per character), otherwise it answers with a fixed filler
 * (log-prob −2.5 per character). Tokens are characters. Supports `echo` for prompt log-probs.
 */
export function fakeMemorizingModel(memorized: string[], opts: { filler?: string; name?: string } = {}): CompletionModel & { calls: string[] } {
  const filler = opts.filler ?? "这个问题需要结合具体情况，建议到医院就诊。";
  const calls: string[] = [];
  const continuation = (prompt: string): string | undefined => {
    for (const doc of memorized) {
      // The longest tail of the prompt (≥ 4 chars) that starts a memorized document.
      for (let k = Math.min(prompt.length, doc.length - 1); k >= 4; k--) {
        if (doc.startsWith(prompt.slice(prompt.length - k))) return doc.slice(k);
      }
    }
    return undefined;
  };
  return {
    name: opts.name ?? "fake-memorizer",
    calls,
    async complete(prompt: string, o: CompletionOptions = {}): Promise<CompletionResult> {
      calls.push(prompt);
      o.signal?.throwIfAborted();
      const echo = (o.extraBody as { echo?: boolean } | undefined)?.echo === true;
      const cont = continuation(prompt);
      const max = o.maxTokens ?? 16;
      let text = Array.from(cont ?? filler).slice(0, max).join("");
      for (const s of o.stop ?? []) if (text.includes(s)) text = text.slice(0, text.indexOf(s));
      const lp = cont === undefined ? -2.5 : -0.05;
      if (echo) {
        // Prompt log-probs: characters of a memorized document are easy, others hard; the first has none.
        const known = (i: number) => memorized.some((d) => d.includes(prompt.slice(Math.max(0, i - 3), i + 1)));
        const chars = Array.from(prompt);
        const lps = chars.map((_, i) => (i === 0 ? Number.NaN : known(i) ? -0.05 : -3));
        return { text: "", finishReason: "length", tokens: chars, tokenLogprobs: lps, usage: { promptTokens: chars.length, completionTokens: 0 }, cached: false };
      }
      const tokens = Array.from(text);
      return {
        text,
        finishReason: tokens.length >= max ? "length" : "stop",
        ...(o.logprobs ? { tokens, tokenLogprobs: tokens.map(() => lp) } : {}),
        usage: { promptTokens: prompt.length, completionTokens: tokens.length },
        cached: false,
      };
    },
  };
}

/**
 * A fake embedding model: a bag of character bigrams hashed into `dim` buckets, mean-pooled over positions (as
 * serve's `pooling: "mean"`), with each layer permuting the buckets differently so layers really differ.
 */
export function fakeEmbeddingModel(dim = 64): EmbeddingModel & { calls: Array<{ inputs: string[]; options: EmbeddingOptions }> } {
  const calls: Array<{ inputs: string[]; options: EmbeddingOptions }> = [];
  return {
    name: "fake-embedder",
    calls,
    async embed(inputs, options = {}) {
      calls.push({ inputs, options });
      const layer = options.layer ?? 0;
      return inputs.map((text) => {
        const v = new Float32Array(dim);
        const chars = Array.from(text);
        for (let i = 0; i + 1 < chars.length; i++) {
          let h = 2166136261 ^ layer;
          for (const c of chars[i]! + chars[i + 1]!) h = Math.imul(h ^ c.codePointAt(0)!, 16777619);
          v[(h >>> 0) % dim]! += 1;
        }
        const n = Math.max(1, chars.length - 1);
        for (let i = 0; i < dim; i++) v[i] = v[i]! / n + 0.01 * (layer + 1);
        return v;
      });
    },
  };
}
