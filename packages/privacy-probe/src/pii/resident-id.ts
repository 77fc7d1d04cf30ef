import { clampScore, contextWord, ID_CONTEXT } from "./pii-context.js";
import type { PiiDetector, PiiMatch } from "./pii-types.js";

/** GB 11643-1999 weights: 2^(17−i) mod 11 for positions i = 0..16. */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARS = "10X98765432";

/** First two digits of a mainland resident ID: province-level division codes (71 Taiwan, 81/82 HK/Macao, 83 residence permits). */
const PROVINCES = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
]);

/**
 * The check character of an 18-character resident ID (ISO 7064 MOD 11-2, as GB 11643-1999 specifies).
 * @param first17 the first 17 digits
 * @throws {RangeError} when `first17` is not 17 ASCII digits
 */
export function residentIdCheckChar(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new RangeError("residentIdCheckChar needs exactly 17 digits");
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * WEIGHTS[i]!;
  return CHECK_CHARS[sum % 11]!;
}

/** True when y-m-d is a real calendar date not after `now`. */
function realDate(y: number, m: number, d: number, now: Date): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) return false;
  return t.getTime() <= now.getTime() && y >= 1890;
}

export interface ResidentIdOptions {
  /** Accept 15-digit IDs issued before 1999 (no check digit; birth year 19yy). @default false */
  legacy?: boolean;
  /** Birth dates after this are rejected. @default the current date */
  now?: Date;
}

/**
 * Validate a resident ID: 18 characters with a province code, a real birth date and the MOD 11-2 check character
 * (`x` is accepted for `X`); with `legacy`, also 15 digits with a province code and a real 19yy birth date.
 */
export function isValidResidentId(id: string, opts: ResidentIdOptions = {}): boolean {
  const now = opts.now ?? new Date();
  if (/^\d{17}[\dXx]$/.test(id)) {
    if (!PROVINCES.has(Number(id.slice(0, 2)))) return false;
    if (!realDate(Number(id.slice(6, 10)), Number(id.slice(10, 12)), Number(id.slice(12, 14)), now)) return false;
    return residentIdCheckChar(id.slice(0, 17)) === id[17]!.toUpperCase();
  }
  if (opts.legacy && /^\d{15}$/.test(id)) {
    if (!PROVINCES.has(Number(id.slice(0, 2)))) return false;
    return realDate(1900 + Number(id.slice(6, 8)), Number(id.slice(8, 10)), Number(id.slice(10, 12)), now);
  }
  return false;
}

/**
 * True when an 18-character string has the shape of a resident ID (a birth year starting 18, 19 or 20 after six
 * digits) whatever its region code, date and check character: one mistyped digit anywhere keeps this shape. Such a number is more likely a mistyped ID than a bank card (cards
 * with 18 digits are rare), so the card detector leaves it alone.
 */
export function looksLikeResidentId(digits: string): boolean {
  return /^\d{6}(?:18|19|20)\d{9}[\dXx]$/.test(digits);
}

const ID18 = /(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])/g;
const ID15 = /(?<![0-9A-Za-z.])[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])/g;

/**
 * Resident ID numbers. 18-character IDs are reported only when fully valid (score 1). Legacy 15-digit IDs have no
 * checksum, so with `legacy` they score 0.45, raised to 0.9 by a context word such as 身份证.
 */
export function residentIdDetector(opts: ResidentIdOptions = {}): PiiDetector {
  return {
    kind: "resident-id",
    priority: 5,
    find(text) {
      const out: PiiMatch[] = [];
      for (const m of text.matchAll(ID18)) {
        if (isValidResidentId(m[0], opts)) {
          out.push({ kind: "resident-id", start: m.index, end: m.index + m[0].length, text: m[0], score: 1, reasons: ["checksum", "birth-date"] });
        }
      }
      if (opts.legacy) {
        for (const m of text.matchAll(ID15)) {
          if (!isValidResidentId(m[0], opts)) continue;
          const ctx = contextWord(text, m.index, ID_CONTEXT);
          out.push({
            kind: "resident-id",
            start: m.index,
            end: m.index + m[0].length,
            text: m[0],
            score: clampScore(ctx ? 0.9 : 0.45),
            reasons: ["legacy-15", "birth-date", ...(ctx ? [`context:${ctx}`] : [])],
          });
        }
      }
      return out;
    },
  };
}
