import { PrivacyProbeError } from "../errors.js";
import { charTokenizer, type TextTokenizer } from "./tokenizer.js";

/**
 * How a text is cut into prefix A (the prompt) and suffix B (what the model should reproduce).
 * - `{ ratio }`: A is the first `round(n·ratio)` tokens (at least one), B the rest (the paper's split).
 * - `{ suffixTokens }`: B is the last `suffixTokens` tokens, A everything before.
 * - `{ prefixTokens, suffixTokens }`: A is tokens `[0, prefixTokens)`, B the next `suffixTokens` (Carlini et al.'s
 *   k-extractable setting: ℓ = prefixTokens + 50, B = 50 tokens); texts shorter than that are skipped.
 */
export type SplitSpec = { ratio: number } | { suffixTokens: number; prefixTokens?: number };

export interface SplitOptions {
  split: SplitSpec;
  /** @default one token per code point */
  tokenizer?: TextTokenizer;
}

export interface SplitText {
  prefix: string;
  suffix: string;
  prefixTokens: number;
  suffixTokens: number;
}

/** Carlini et al.'s setting: 50-token suffix after a `prefixTokens`-token prompt. */
export function kExtractableSplit(prefixTokens: number, k = 50): SplitSpec {
  return { prefixTokens, suffixTokens: k };
}

/**
 * Split a text at a token boundary.
 * @returns undefined when the text is too short for the split (fewer than 2 tokens, or fewer than prefix + suffix)
 * @throws {PrivacyProbeError} for a ratio outside (0, 1) or non-positive token counts
 */
export async function splitText(text: string, opts: SplitOptions): Promise<SplitText | undefined> {
  const tokens = await (opts.tokenizer ?? charTokenizer)(text);
  const n = tokens.length;
  const s = opts.split;
  let cut: number;
  let end = n;
  if ("ratio" in s) {
    if (!(s.ratio > 0 && s.ratio < 1)) throw new PrivacyProbeError(`split ratio must be in (0, 1), got ${s.ratio}`, { field: "split.ratio" });
    if (n < 2) return undefined;
    cut = Math.min(n - 1, Math.max(1, Math.round(n * s.ratio)));
  } else {
    if (!(s.suffixTokens >= 1) || (s.prefixTokens !== undefined && !(s.prefixTokens >= 1))) {
      throw new PrivacyProbeError("token counts of a split must be ≥ 1", { field: "split" });
    }
    if (s.prefixTokens !== undefined) {
      if (n < s.prefixTokens + s.suffixTokens) return undefined;
      cut = s.prefixTokens;
      end = s.prefixTokens + s.suffixTokens;
    } else {
      if (n < s.suffixTokens + 1) return undefined;
      cut = n - s.suffixTokens;
    }
  }
  return { prefix: tokens.slice(0, cut).join(""), suffix: tokens.slice(cut, end).join(""), prefixTokens: cut, suffixTokens: end - cut };
}
