import { DEFAULT_LEXICON_TERMS } from "./default-lexicon-terms.js";

/**
 * A set of medical terms matched leftmost-longest: at each position the longest term starting there wins and
 * matching resumes after it, so "高血压" counts once rather than also as "血压".
 */
export class MedicalLexicon {
  readonly #terms: Set<string>;
  readonly #maxLen: number;
  readonly #minLen: number;

  constructor(terms: Iterable<string>) {
    this.#terms = new Set();
    for (const t of terms) {
      const term = t.trim();
      if (term) this.#terms.add(term);
    }
    let max = 0;
    let min = Infinity;
    for (const t of this.#terms) {
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
    return this.#terms.has(term);
  }

  /** Distinct terms found in `text`, in order of first appearance. */
  match(text: string): string[] {
    const found: string[] = [];
    const seen = new Set<string>();
    let i = 0;
    while (i < text.length) {
      let hit = "";
      for (let len = Math.min(this.#maxLen, text.length - i); len >= this.#minLen; len--) {
        const s = text.slice(i, i + len);
        if (this.#terms.has(s)) {
          hit = s;
          break;
        }
      }
      if (hit) {
        if (!seen.has(hit)) {
          seen.add(hit);
          found.push(hit);
        }
        i += hit.length;
      } else i++;
    }
    return found;
  }
}

/**
 * Terms from lexicon text: one per line, optionally followed by a tab and anything else (THUOCL's
 * `term<TAB>frequency`, jieba dictionaries' `term freq tag`). Blank lines and `#` comments are skipped.
 */
export function parseLexicon(text: string): MedicalLexicon {
  const terms: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    terms.push(t.split(/[\t ]/)[0]!);
  }
  return new MedicalLexicon(terms);
}

let defaultLexicon: MedicalLexicon | undefined;

/** The shipped lexicon: the 5,000 most frequent THUOCL medical terms (MIT, © 2018 THUNLP). */
export function defaultMedicalLexicon(): MedicalLexicon {
  defaultLexicon ??= parseLexicon(DEFAULT_LEXICON_TERMS);
  return defaultLexicon;
}
