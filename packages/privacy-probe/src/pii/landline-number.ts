import { clampScore, phoneContextScore } from "./pii-context.js";
import type { PiiDetector, PiiMatch } from "./pii-types.js";

/**
 * Area code + local number. Area codes: 010 (Beijing), 02x (3-digit codes of the large cities), 0[3-9]xx (4 digits).
 * Local numbers have 7 or 8 digits and never start with 0 or 1. An extension (转123, -123, ext. 123) may follow.
 */
const AREA = String.raw`(?:10|2\d|[3-9]\d{2})`;
const CORE = String.raw`(?:(?:\+|00)86[ -]?)?(?:\(0?${AREA}\)|（0?${AREA}）|0${AREA})([ -]?)[2-9]\d{6,7}(?:(?:转|-|ext\.?\s?)\d{1,5})?`;
const LANDLINE = new RegExp(String.raw`(?<![0-9A-Za-z.+])${CORE}(?![0-9A-Za-z]|\.\d)`, "g");
const WHOLE = new RegExp(`^${CORE}$`);

/** True when the value is an area code and a local number (separators, brackets, +86 and an extension allowed). */
export function isLandlineNumber(value: string): boolean {
  return WHOLE.test(value);
}

/**
 * Fixed-line numbers with an area code. With brackets, a separator after the area code or a +86 prefix they score
 * 0.7; a bare digit run (0571 followed directly by 8 digits) only 0.3 unless a contact word (电话, 座机, 联系…) is
 * near, which raises either to 0.95. Record words and units lower it to 0.1.
 */
export function landlineNumberDetector(): PiiDetector {
  return {
    kind: "landline",
    priority: 2,
    find(text) {
      const out: PiiMatch[] = [];
      for (const m of text.matchAll(LANDLINE)) {
        const formatted = /^[(（+]|^00/.test(m[0]) || (m[1] ?? "") !== "";
        const reasons = [formatted ? "formatted" : "bare"];
        let score = formatted ? 0.7 : 0.3;
        score = phoneContextScore(text, m.index, m.index + m[0].length, score, reasons);
        out.push({ kind: "landline", start: m.index, end: m.index + m[0].length, text: m[0], score: clampScore(score), reasons });
      }
      return out;
    },
  };
}
