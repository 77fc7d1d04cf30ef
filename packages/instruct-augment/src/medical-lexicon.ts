import { DEFAULT_LEXICON_TERMS } from "./default-lexicon-terms.js";
import { DEFAULT_LEXICON_TERMS_EN } from "./default-lexicon-terms-en.js";
import type { InstructionLanguage } from "./history-prompt.js";

const WORD = /[\p{Script=Latin}\p{N}]/u;
const isWordChar = (ch: string | undefined) => ch !== undefined && WORD.test(ch);

/**
 * A set of medical terms matched leftmost-longest: at each position the longest term starting there wins and
 * matching resumes after it, so "高血压" counts once rather than also as "血压".
 *
 * Matching ignores case. A term that begins or ends with a Latin letter or digit matches only as whole words
 * (so "ear" is not found in "near"), where a plural "s"/"es" still counts ("patients" finds "patient").
 */
export class MedicalLexicon {
  /** Lower-cased term → the term as given. */
  readonly #terms: Map<string, string>;
  readonly #maxLen: number;
  readonly #minLen: number;

  constructor(terms: Iterable<string>) {
    this.#terms = new Map();
    for (const t of terms) {
      const term = t.trim();
      if (term && !this.#terms.has(term.toLowerCase())) this.#terms.set(term.toLowerCase(), term);
    }
    let max = 0;
    let min = Infinity;
    for (const t of this.#terms.keys()) {
      max = Math.max(max, t.length);
      min = Math.min(min, t.length);
    }
    this.#maxLen = max;
    this.#minLen = min === Infinity ? 1 : min;
  }

  get size(): number {
    return this.#terms.size;
  }

  has(term: string): boolean {
    return this.#terms.has(term.toLowerCase());
  }

  /** Distinct terms found in `text` (as the lexicon spells them), in order of first appearance. */
  match(text: string): string[] {
    const lowered = text.toLowerCase();
    // Lower-casing keeps the length for everything but a few letters (İ); fall back to the text as it is.
    const t = lowered.length === text.length ? lowered : text;
    const found: string[] = [];
    const seen = new Set<string>();
    let i = 0;
    while (i < t.length) {
      let hit: string | undefined;
      let advance = 0;
      for (let len = Math.min(this.#maxLen, t.length - i); len >= this.#minLen; len--) {
        const s = t.slice(i, i + len);
        if (!this.#terms.has(s)) continue;
        const end = wordEnd(t, i, s);
        if (end === undefined) continue;
        hit = this.#terms.get(s)!;
        advance = end - i;
        break;
      }
      if (hit !== undefined) {
        if (!seen.has(hit)) {
          seen.add(hit);
          found.push(hit);
        }
        i += advance;
      } else i++;
    }
    return found;
  }
}

/**
 * Where a match of `term` at `i` ends, or undefined when it would cut a word: a Latin-edged term needs a
 * non-word character (or the text's edge) on that side, after an optional plural "s"/"es".
 */
function wordEnd(text: string, i: number, term: string): number | undefined {
  let end = i + term.length;
  if (isWordChar(term[0]) && isWordChar(text[i - 1])) return undefined;
  if (isWordChar(term[term.length - 1])) {
    if (isWordChar(text[end])) {
      const plural = text.startsWith("es", end) && !isWordChar(text[end + 2]) ? 2 : text[end] === "s" && !isWordChar(text[end + 1]) ? 1 : 0;
      if (plural === 0) return undefined;
      end += plural;
    }
  }
  return end;
}

/**
 * Terms from lexicon text: one per line, optionally followed by a tab and anything else (THUOCL's
 * `term<TAB>frequency`) or by a count and a tag (jieba dictionaries' `term freq tag`). Any other line is one
 * term, spaces included ("blood pressure"). Blank lines and `#` comments are skipped.
 */
export function parseLexicon(text: string): MedicalLexicon {
  const terms: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const jieba = /^(\S+) \d+(?: \S+)?$/.exec(t);
    terms.push(t.includes("\t") ? t.split("\t")[0]!.trim() : jieba ? jieba[1]! : t);
  }
  return new MedicalLexicon(terms);
}

let defaultLexicon: MedicalLexicon | undefined;
let defaultLexiconEn: MedicalLexicon | undefined;

/**
 * The shipped lexicon of a language. zh: the 5,000 most frequent THUOCL medical terms (MIT, © 2018 THUNLP);
 * en: our own list of about 280 common clinical words.
 */
export function defaultMedicalLexicon(language: InstructionLanguage = "zh"): MedicalLexicon {
  if (language === "en") return (defaultLexiconEn ??= parseLexicon(DEFAULT_LEXICON_TERMS_EN));
  defaultLexicon ??= parseLexicon(DEFAULT_LEXICON_TERMS);
  return defaultLexicon;
}
