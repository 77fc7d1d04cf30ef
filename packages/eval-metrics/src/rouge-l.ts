import { lcsOfSymbols } from "./lcs-bit-parallel.js";
import { lcsOfCodes } from "./lcs-fast.js";
import { charCodes, jiebaSegmenter, isPythonWhitespace, tokenize, type Tokenizer } from "./tokenize.js";

/** ROUGE-L precision, recall and F1 of one candidate against one reference, each in [0, 1]. */
export interface RougeScore {
  precision: number;
  recall: number;
  f: number;
}

/** Thrown for inputs a reference implementation would reject (empty text under `empty: "throw"`). */
export class RougeError extends Error {
  override readonly name = "RougeError";
  readonly code: "EMPTY_CANDIDATE" | "EMPTY_REFERENCE" | "BAD_INPUT" | "POOL_CLOSED";
  /** For `BAD_INPUT`: index of the bad pair and the field (`candidate`/`reference`), when known. */
  readonly index: number | undefined;
  readonly field: string | undefined;
  constructor(code: "EMPTY_CANDIDATE" | "EMPTY_REFERENCE" | "BAD_INPUT" | "POOL_CLOSED", message: string, where: { index?: number; field?: string } = {}) {
    super(message);
    this.code = code;
    this.index = where.index;
    this.field = where.field;
  }
}

/**
 * Published scoring conventions.
 * - `"rouge-score"`: google-research rouge-score with the given tokenizer: F = 2PR/(P+R) = 2L/(m+n).
 * - `"rouge-chinese"`: rouge-chinese 1.0.3 `rouge-l` over space-joined jieba words: F = 2PR/(P+R+1e-8),
 *   tokens from jieba (unless a tokenizer is given), empty text throws.
 */
export type RougeCompat = "rouge-score" | "rouge-chinese";

export interface RougeLOptions {
  /** @default "char" (or "jieba" under `compat: "rouge-chinese"`) */
  tokenizer?: Tokenizer;
  /** @default "rouge-score" */
  compat?: RougeCompat;
  /**
   * What an empty candidate or reference (no tokens) scores: `"zero"` gives {0,0,0} (rouge-score, Zhongjing),
   * `"throw"` raises RougeError (rouge-chinese, pltrdy).
   * @default "zero" ("throw" under `compat: "rouge-chinese"`)
   */
  empty?: "zero" | "throw";
}

/** Interns string tokens to small integers, shared by both sides of one comparison. */
function internPair(a: readonly string[], b: readonly string[]): [Int32Array, Int32Array] {
  const ids = new Map<string, number>();
  const conv = (xs: readonly string[]) => {
    const out = new Int32Array(xs.length);
    for (let i = 0; i < xs.length; i++) {
      let id = ids.get(xs[i]!);
      if (id === undefined) ids.set(xs[i]!, (id = ids.size));
      out[i] = id;
    }
    return out;
  };
  return [conv(a), conv(b)];
}

function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) out.push(ch.codePointAt(0)!);
  return out;
}

function allNumbers(xs: readonly (string | number)[]): boolean {
  for (const x of xs) if (typeof x !== "number") return false;
  return true;
}

/** Integers in [0, 0x10FFFF]: what the Wasm kernel's direct-indexed symbol table covers. */
function allCodes(xs: ArrayLike<number>): boolean {
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (!(x >= 0 && x <= 0x10ffff && x === Math.floor(x))) return false;
  }
  return true;
}

/**
 * Length of the longest common subsequence of two sequences, exact (bit-parallel, see `lcs-bit-parallel.ts`).
 * Strings compare by code points (every character, whitespace included); arrays compare element-wise with
 * `===` (token strings or integer ids; the number 1 and the string "1" differ).
 */
export function lcsLength(a: string | readonly (string | number)[], b: string | readonly (string | number)[]): number {
  const sa = typeof a === "string" ? codePoints(a) : a;
  const sb = typeof b === "string" ? codePoints(b) : b;
  if (allNumbers(sa) && allNumbers(sb)) {
    const [na, nb] = [sa as readonly number[], sb as readonly number[]];
    return allCodes(na) && allCodes(nb) ? lcsOfCodes(na, nb) : lcsOfSymbols(na, nb);
  }
  const key = (x: string | number) => (typeof x === "number" ? `n${x}` : `s${x}`);
  const [x, y] = internPair(sa.map(key), sb.map(key));
  return lcsOfCodes(x, y);
}

/** P, R and F from an LCS length and the two token counts; zeros when either count is 0. */
export function scoreFromCounts(lcs: number, candidateLength: number, referenceLength: number, epsilon = 0): RougeScore {
  if (candidateLength === 0 || referenceLength === 0) return { precision: 0, recall: 0, f: 0 };
  const precision = lcs / candidateLength;
  const recall = lcs / referenceLength;
  const f = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall + epsilon);
  return { precision, recall, f };
}

/**
 * Python jieba (0.42) re-cuts an unknown ASCII block with `[a-zA-Z0-9]+(?:\.\d+)?%?`, keeping what lies between
 * matches whole: "7-10" → 7 / - / 10, while "38.5", "65%" and "--" stay one token. The Rust port keeps the block
 * whole; re-cut such words the Python way.
 */
function pythonJiebaAscii(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    if (/^[A-Za-z0-9+#&._%-]+$/.test(w) && /[^A-Za-z0-9]/.test(w)) out.push(...w.match(/[A-Za-z0-9]+(?:\.\d+)?%?|[^A-Za-z0-9]+/g)!);
    else out.push(w);
  }
  return out;
}

/** Tokens for the rouge-chinese convention: jieba words joined by spaces, then split on Python whitespace. */
export function rougeChineseTokens(text: string, tokenizer: Tokenizer | undefined): string[] {
  const words = tokenizer === undefined ? pythonJiebaAscii(jiebaSegmenter().cut(text, true)) : tokenize(text, tokenizer);
  const out: string[] = [];
  for (const w of words) {
    let cur = "";
    for (const ch of w) {
      if (isPythonWhitespace(ch.codePointAt(0)!)) {
        if (cur) out.push(cur);
        cur = "";
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** Integer symbols of both sides under the given options (shared by the sync and threaded paths). */
export function symbolsForPair(
  candidate: string,
  reference: string,
  options: RougeLOptions = {},
): [ArrayLike<number>, ArrayLike<number>] {
  const compat = options.compat ?? "rouge-score";
  if (compat === "rouge-chinese") return internPair(rougeChineseTokens(candidate, options.tokenizer), rougeChineseTokens(reference, options.tokenizer));
  const tok = options.tokenizer ?? "char";
  if (tok === "char") return [charCodes(candidate), charCodes(reference)];
  return internPair(tokenize(candidate, tok), tokenize(reference, tok));
}

/**
 * ROUGE-L of `candidate` against `reference`: P = LCS/|candidate|, R = LCS/|reference|, F = 2PR/(P+R).
 * Returns zeros when either side has no tokens (unless `empty: "throw"`).
 * @throws RougeError when a side is empty and `empty` is `"throw"`.
 */
export function rougeL(candidate: string, reference: string, options: RougeLOptions = {}): RougeScore {
  const [c, r] = symbolsForPair(candidate, reference, options);
  return scoreSymbols(c, r, options);
}

/** ROUGE-L from already-tokenized integer symbols (code points or interned ids, all in [0, 0x10FFFF]). */
export function scoreSymbols(c: ArrayLike<number>, r: ArrayLike<number>, options: RougeLOptions = {}): RougeScore {
  const compat = options.compat ?? "rouge-score";
  const empty = options.empty ?? (compat === "rouge-chinese" ? "throw" : "zero");
  if (empty === "throw") {
    if (c.length === 0) throw new RougeError("EMPTY_CANDIDATE", "Hypothesis is empty.");
    if (r.length === 0) throw new RougeError("EMPTY_REFERENCE", "Reference is empty.");
  }
  if (c.length === 0 || r.length === 0) return { precision: 0, recall: 0, f: 0 };
  const lcs = lcsOfCodes(c, r);
  return scoreFromCounts(lcs, c.length, r.length, compat === "rouge-chinese" ? 1e-8 : 0);
}
