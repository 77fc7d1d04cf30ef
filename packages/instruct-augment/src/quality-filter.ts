import { rougeL } from "@sfmed/eval-metrics";
import type { MedicalLexicon } from "./medical-lexicon.js";

/** Why a candidate was rejected. */
export type RejectReason =
  | "too-short"
  | "too-long"
  /** Not a whole sentence: no final punctuation, unbalanced brackets or quotes, or cut off by the token limit. */
  | "incomplete"
  /** Not (mostly) Chinese. */
  | "language"
  /** Fewer than `minTerms` lexicon terms. */
  | "unprofessional"
  /** Exactly an instruction seen before. */
  | "duplicate"
  /** ROUGE-L F against an instruction in either bank at or above the threshold. */
  | "not-novel";

export const REJECT_REASONS: readonly RejectReason[] = ["too-short", "too-long", "incomplete", "language", "unprofessional", "duplicate", "not-novel"];

export interface FilterOptions {
  /** Length bounds in characters (code points). @default 8 */
  minChars?: number;
  /** @default 300 */
  maxChars?: number;
  /** Require sentence-final punctuation (。！？!?；… or a final 吗/呢/吧). @default true */
  requireFinalPunctuation?: boolean;
  /** Share of Han characters among Han + Latin letters. @default 0.6 */
  minChineseRatio?: number;
  /** Lexicon terms a candidate must contain. @default 1 */
  minTerms?: number;
  /** Reject when ROUGE-L F against any bank instruction reaches this. @default 0.7 */
  maxRougeL?: number;
}

export const DEFAULT_FILTER: Required<FilterOptions> = {
  minChars: 8,
  maxChars: 300,
  requireFinalPunctuation: true,
  minChineseRatio: 0.6,
  minTerms: 1,
  maxRougeL: 0.7,
};

export type Verdict =
  | { ok: true; terms: string[]; maxRougeL: number }
  | { ok: false; reason: RejectReason; detail: string };

const FINAL = /(?:[。！？!?；;…]|[吗呢吧][。？?]?)["”’」』）)]*$/u;
const HAN = /\p{Script=Han}/gu;
const LATIN = /\p{Script=Latin}/gu;
const PAIRS: Array<[string, string]> = [
  ["(", ")"],
  ["（", "）"],
  ["[", "]"],
  ["【", "】"],
  ["《", "》"],
  ["“", "”"],
  ["「", "」"],
];

function balanced(s: string): boolean {
  for (const [open, close] of PAIRS) {
    if (s.split(open).length !== s.split(close).length) return false;
  }
  return (s.split('"').length - 1) % 2 === 0;
}

/** Completeness, length and language checks: everything that needs neither the lexicon nor the banks. */
export function checkForm(text: string, opts: FilterOptions = {}): Verdict | undefined {
  const o = { ...DEFAULT_FILTER, ...opts };
  const len = [...text].length;
  if (len < o.minChars) return { ok: false, reason: "too-short", detail: `${len} < ${o.minChars} characters` };
  if (len > o.maxChars) return { ok: false, reason: "too-long", detail: `${len} > ${o.maxChars} characters` };
  if (o.requireFinalPunctuation && !FINAL.test(text)) return { ok: false, reason: "incomplete", detail: "no sentence-final punctuation" };
  if (!balanced(text)) return { ok: false, reason: "incomplete", detail: "unbalanced brackets or quotes" };
  const han = text.match(HAN)?.length ?? 0;
  const latin = text.match(LATIN)?.length ?? 0;
  if (han === 0 || han / (han + latin) < o.minChineseRatio) return { ok: false, reason: "language", detail: `${han} Han of ${han + latin} letters` };
  return undefined;
}

/** Highest ROUGE-L F of `text` against `pool` (0 for an empty pool); stops early once `stopAt` is reached. */
export function maxRougeLAgainst(text: string, pool: Iterable<string>, stopAt = Infinity): number {
  let best = 0;
  for (const ref of pool) {
    const f = rougeL(text, ref).f;
    if (f > best) best = f;
    if (best >= stopAt) break;
  }
  return best;
}

export interface FilterContext {
  lexicon: MedicalLexicon;
  /** Instructions to be novel against: both banks, plus what this step already accepted. */
  pool: readonly string[];
  /** Every instruction seen so far (seeds and accepted), for the exact-duplicate check. */
  seen: ReadonlySet<string>;
}

/**
 * Step 4b: the quality filter, cheapest test first — length, completeness, language, exact duplicate,
 * professionalism (≥ `minTerms` lexicon terms), novelty (ROUGE-L F against both banks below `maxRougeL`).
 */
export function checkCandidate(text: string, ctx: FilterContext, opts: FilterOptions = {}): Verdict {
  const o = { ...DEFAULT_FILTER, ...opts };
  const form = checkForm(text, o);
  if (form) return form;
  if (ctx.seen.has(text)) return { ok: false, reason: "duplicate", detail: "seen before" };
  const terms = ctx.lexicon.match(text);
  if (terms.length < o.minTerms) return { ok: false, reason: "unprofessional", detail: `${terms.length} < ${o.minTerms} medical terms` };
  const best = maxRougeLAgainst(text, ctx.pool, o.maxRougeL);
  if (best >= o.maxRougeL) return { ok: false, reason: "not-novel", detail: `ROUGE-L ${best.toFixed(3)} ≥ ${o.maxRougeL}` };
  return { ok: true, terms, maxRougeL: best };
}
