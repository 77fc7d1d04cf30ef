import { clampScore, phoneContextScore } from "./pii-context.js";
import type { PiiDetector, PiiMatch } from "./pii-types.js";

/** Allocated mainland mobile prefixes (3 digits): 13x, 145–149, 15x except 154, 162/165–167, 170–178, 18x, 19x. */
const SEGMENT = /^1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9\d)/;

/** True when the digits (after removing +86/0086 and separators) form a plausible mainland mobile number. */
export function isMobileNumber(value: string): boolean {
  const digits = value.replace(/[\s-]/g, "").replace(/^(?:\+|00)86/, "");
  return /^1\d{10}$/.test(digits) && SEGMENT.test(digits);
}

const MOBILE = /(?<![0-9A-Za-z.+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z]|\.\d)/g;

/**
 * Mainland mobile numbers, optionally with +86/0086 and space or dash separators. A bare 11-digit number scores 0.6;
 * a country prefix, a 3-4-4 grouping or a contact word (手机, 电话, 联系…) before it raises it to 0.95; a record
 * word (住院号, 编号…) or a unit after it (mg, 次, 元…) lowers it to 0.1, below the default threshold.
 */
export function mobileNumberDetector(): PiiDetector {
  return {
    kind: "mobile",
    priority: 3,
    find(text) {
      const out: PiiMatch[] = [];
      for (const m of text.matchAll(MOBILE)) {
        if (!isMobileNumber(m[0])) continue;
        const reasons = ["segment"];
        let score = 0.6;
        if (/^(?:\+|00)86/.test(m[0])) {
          score = 0.95;
          reasons.push("country-code");
        } else if (/[ -]/.test(m[0])) {
          score = 0.95;
          reasons.push("grouped");
        }
        score = phoneContextScore(text, m.index, m.index + m[0].length, score, reasons);
        out.push({ kind: "mobile", start: m.index, end: m.index + m[0].length, text: m[0], score: clampScore(score), reasons });
      }
      return out;
    },
  };
}
