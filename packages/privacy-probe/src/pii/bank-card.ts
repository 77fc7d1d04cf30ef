import { CARD_CONTEXT, ID_CONTEXT, clampScore, contextWord, followedByQuantity, RECORD_CONTEXT } from "./pii-context.js";
import type { PiiDetector, PiiMatch } from "./pii-types.js";
import { looksLikeResidentId } from "./resident-id.js";

/**
 * Luhn (mod 10) check over a digit string.
 * @returns false for anything that is not 2+ ASCII digits
 */
export function luhnValid(digits: string): boolean {
  if (!/^\d{2,}$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** The Luhn check digit that makes `body + digit` valid. */
export function luhnCheckDigit(body: string): string {
  for (let d = 0; d < 10; d++) if (luhnValid(body + d)) return String(d);
  throw new RangeError("luhnCheckDigit needs a digit string");
}

/**
 * Issuer prefixes of payment cards seen in China: UnionPay (62, 60 for some domestic debit cards), Visa (4),
 * Mastercard (51–55, 2221–2720), JCB (35), Discover (65). Other leading digits are not plausible card numbers.
 */
export function plausibleCardPrefix(digits: string): boolean {
  if (/^(?:62|60|4|5[1-5]|35|65)/.test(digits)) return true;
  const four = Number(digits.slice(0, 4));
  return four >= 2221 && four <= 2720;
}

/** Plain 16–19 digits, or groups of four joined by one consistent space or dash (with a 1–3 digit tail). */
const CARD = /(?<![0-9A-Za-z.])(?:\d{16,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?)(?![0-9A-Za-z]|\.\d)/g;

/**
 * Bank card numbers: 16–19 digits passing Luhn with a plausible issuer prefix (score 0.7; 0.95 after a word such
 * as 卡号 or 银行卡). Numbers after a record word (编号, 住院号, …) or followed by a unit drop to 0.2, and
 * 18-digit numbers shaped like a resident ID or written after 身份证 are left to the ID detector.
 */
export function bankCardDetector(): PiiDetector {
  return {
    kind: "bank-card",
    priority: 4,
    find(text) {
      const out: PiiMatch[] = [];
      for (const m of text.matchAll(CARD)) {
        const digits = m[0].replace(/[ -]/g, "");
        if (digits.length < 16 || digits.length > 19) continue;
        if (!luhnValid(digits) || !plausibleCardPrefix(digits)) continue;
        const card = contextWord(text, m.index, CARD_CONTEXT);
        // An 18-digit number shaped like an ID, or written after 身份证, is a (possibly mistyped) ID, not a card.
        if (!card && digits.length === 18 && (looksLikeResidentId(digits) || contextWord(text, m.index, ID_CONTEXT))) continue;
        const record = card ? undefined : contextWord(text, m.index, RECORD_CONTEXT);
        const quantity = followedByQuantity(text, m.index + m[0].length);
        let score = card ? 0.95 : 0.7;
        if (record || quantity) score = 0.2;
        const reasons = ["luhn", "issuer-prefix"];
        if (card) reasons.push(`context:${card}`);
        if (record) reasons.push(`record-context:${record}`);
        if (quantity) reasons.push("quantity");
        out.push({ kind: "bank-card", start: m.index, end: m.index + m[0].length, text: m[0], score: clampScore(score), reasons });
      }
      return out;
    },
  };
}
