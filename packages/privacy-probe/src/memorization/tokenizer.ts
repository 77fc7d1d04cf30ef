import type { CompletionModel } from "@sfmed/llm";
import { PrivacyProbeError } from "../errors.js";

/**
 * Cuts a text into tokens whose concatenation is the text again (so token boundaries are string offsets).
 * May be async, e.g. asking the served model's tokenizer.
 */
export type TextTokenizer = (text: string) => string[] | Promise<string[]>;

/** The default tokenizer: one token per Unicode code point (Chinese characters are a fair proxy for tokens). */
export const charTokenizer: TextTokenizer = (text) => Array.from(text);

/**
 * A tokenizer that asks an OpenAI-compatible completion server for its own tokens by echoing the prompt
 * (`echo: true`, `max_tokens: 0`, log-probs on; vLLM and trainer-py serve support this). Pieces that do not
 * concatenate back to the text are rejected (trainer-py serve gives a character split over byte-level tokens to
 * the first of them and "" to the rest; servers that return U+FFFD for such tokens do not rebuild the text).
 * @throws {PrivacyProbeError} code `MODEL_ERROR` when the server returns no tokens or pieces that do not rebuild the text
 */
export function echoTokenizer(model: CompletionModel): TextTokenizer {
  return async (text) => {
    const r = await model.complete(text, { maxTokens: 0, temperature: 0, logprobs: true, extraBody: { echo: true } });
    const tokens = r.tokens;
    if (!tokens || tokens.join("").slice(0, text.length) !== text) {
      throw new PrivacyProbeError("the server did not echo tokens that rebuild the prompt (needs echo + logprobs support)", { code: "MODEL_ERROR" });
    }
    // Drop generated tokens past the prompt, if the server produced any.
    let len = 0;
    const out: string[] = [];
    for (const t of tokens) {
      if (len >= text.length) break;
      out.push(t);
      len += t.length;
    }
    return out;
  };
}
