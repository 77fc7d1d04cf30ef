import { rougeL, type RougeLOptions } from "@sfmed/eval-metrics";
import type { InstructionLanguage } from "./history-prompt.js";
import type { MedicalLexicon } from "./medical-lexicon.js";

/** Why a candidate was rejected. */
export type RejectReason =
  | "too-short"
  | "too-long"
  /** Not a whole sentence: no final punctuation, unbalanced brackets or quotes, or cut off by the token limit. */
  | "incomplete"
  /** Not (mostly) in the run's language. */
  | "language"
  /** Fewer than `minTerms` lexicon terms. */
  | "unprofessional"
  /** Exactly an instruction seen before. */
  | "duplicate"
  /** ROUGE-L F against an instruction in either bank at or above the threshold. */
  | "not-novel";

export const REJECT_REASONS: readonly RejectReason[] = ["too-short", "too-long", "incomplete", "language", "unprofessional", "duplicate", "not-novel"];

export interface FilterOptions {
  /**
   * The language candidates must be in. It sets what counts as sentence-final punctuation, which script the
   * language check counts, and how ROUGE-L tokenizes (characters for Chinese, lower-cased words for English).
   * @default "zh"
   */
  language?: InstructionLanguage;
  /** Length bounds in characters (code points). @default 8 (zh), 20 (en) */
  minChars?: number;
  /** @default 300 (zh), 600 (en) */
  maxChars?: number;
  /** Require sentence-final punctuation (zh: 。！？!?；… or a final 吗/呢/吧; en: . ! ? ; …). @default true */
  requireFinalPunctuation?: boolean;
  /** Share of the language's letters (Han for zh, Latin for en) among Han + Latin letters; 0: no check. @default 0.6 */
  minLanguageRatio?: number;
  /** @deprecated the old name of `minLanguageRatio`; used when that is not given. */
  minChineseRatio?: number;
  /** Lexicon terms a candidate must contain. @default 1 */
  minTerms?: number;
  /** Reject when ROUGE-L F against any bank instruction reaches this. @default 0.7 */
  maxRougeL?: number;
}

/** Resolved filter settings (every field but the deprecated alias). */
export type ResolvedFilter = Required<Omit<FilterOptions, "minChineseRatio">>;

/** The Chinese defaults. */
export const DEFAULT_FILTER: ResolvedFilter = {
  language: "zh",
  minChars: 8,
  maxChars: 300,
  requireFinalPunctuation: true,
  minLanguageRatio: 0.6,
  minTerms: 1,
  maxRougeL: 0.7,
};

/** The English defaults: longer bounds, since an English sentence has about three times the characters. */
export const DEFAULT_FILTER_EN: ResolvedFilter = { ...DEFAULT_FILTER, language: "en", minChars: 20, maxChars: 600 };

/** `opts` over the defaults of its language (`opts.language`, else `language`). */
export function resolveFilter(opts: FilterOptions = {}, language: InstructionLanguage = "zh"): ResolvedFilter {
  const lang = opts.language ?? language;
  const { minChineseRatio, ...rest } = opts;
  const out: ResolvedFilter = { ...(lang === "en" ? DEFAULT_FILTER_EN : DEFAULT_FILTER), ...stripUndefined(rest), language: lang };
  if (opts.minLanguageRatio === undefined && minChineseRatio !== undefined) out.minLanguageRatio = minChineseRatio;
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** ROUGE-L settings for novelty: characters for Chinese, lower-cased words for English. */
export function noveltyRouge(language: InstructionLanguage): RougeLOptions {
  return language === "en" ? { tokenizer: englishWords } : {};
}

const englishWords = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

export type Verdict =
  | { ok: true; terms: string[]; maxRougeL: number }
  | { ok: false; reason: RejectReason; detail: string };

const FINAL = /(?:[。！？!?；;…]|[吗呢吧][。？?]?)["”’」』）)]*$/u;
// Full-width stops count too, so Chinese text in an English run is rejected for its language, not its punctuation.
const FINAL_EN = /[.!?;…。！？]["'”’)\]]*$/u;
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
  const o = resolveFilter(opts);
  const en = o.language === "en";
  const len = [...text].length;
  if (len < o.minChars) return { ok: false, reason: "too-short", detail: `${len} < ${o.minChars} characters` };
  if (len > o.maxChars) return { ok: false, reason: "too-long", detail: `${len} > ${o.maxChars} characters` };
  if (o.requireFinalPunctuation && !(en ? FINAL_EN : FINAL).test(text)) return { ok: false, reason: "incomplete", detail: "no sentence-final punctuation" };
  if (!balanced(text)) return { ok: false, reason: "incomplete", detail: "unbalanced brackets or quotes" };
  const han = text.match(HAN)?.length ?? 0;
  const latin = text.match(LATIN)?.length ?? 0;
  const own = en ? latin : han;
  // A ratio of 0 turns the check off.
  if (o.minLanguageRatio > 0 && (own === 0 || own / (han + latin) < o.minLanguageRatio)) {
    return { ok: false, reason: "language", detail: `${own} ${en ? "Latin" : "Han"} of ${han + latin} letters` };
  }
  return undefined;
}

/**
 * Highest ROUGE-L F of `text` against `pool` (0 for an empty pool); stops early once `stopAt` is reached.
 * `rouge` picks the tokenizer ({@link noveltyRouge}); characters by default.
 */
export function maxRougeLAgainst(text: string, pool: Iterable<string>, stopAt = Infinity, rouge: RougeLOptions = {}): number {
  let best = 0;
  for (const ref of pool) {
    const f = rougeL(text, ref, rouge).f;
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
  const o = resolveFilter(opts);
  const form = checkForm(text, o);
  if (form) return form;
  if (ctx.seen.has(text)) return { ok: false, reason: "duplicate", detail: "seen before" };
  const terms = ctx.lexicon.match(text);
  if (terms.length < o.minTerms) return { ok: false, reason: "unprofessional", detail: `${terms.length} < ${o.minTerms} medical terms` };
  const best = maxRougeLAgainst(text, ctx.pool, o.maxRougeL, noveltyRouge(o.language));
  if (best >= o.maxRougeL) return { ok: false, reason: "not-novel", detail: `ROUGE-L ${best.toFixed(3)} ≥ ${o.maxRougeL}` };
  return { ok: true, terms, maxRougeL: best };
}
