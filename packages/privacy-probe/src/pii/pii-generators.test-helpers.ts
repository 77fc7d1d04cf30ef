import { fc } from "@fast-check/vitest";
import { luhnCheckDigit } from "./bank-card.js";
import { residentIdCheckChar } from "./resident-id.js";

const PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65];

const pad = (n: number, w: number) => String(n).padStart(w, "0");

/** Synthetic, checksum-valid 18-character resident IDs (born 1900–2020). */
export const validResidentId = fc
  .record({
    province: fc.constantFrom(...PROVINCES),
    area: fc.integer({ min: 0, max: 9999 }),
    born: fc.date({ min: new Date(Date.UTC(1900, 0, 1)), max: new Date(Date.UTC(2020, 11, 31)), noInvalidDate: true }),
    seq: fc.integer({ min: 0, max: 999 }),
  })
  .map(({ province, area, born, seq }) => {
    const body = `${province}${pad(area, 4)}${born.getUTCFullYear()}${pad(born.getUTCMonth() + 1, 2)}${pad(born.getUTCDate(), 2)}${pad(seq, 3)}`;
    return body + residentIdCheckChar(body);
  });

/** Synthetic Luhn-valid UnionPay-style card numbers (62…) of the given lengths. */
export function validCard(lengths: number[]) {
  return fc
    .record({ len: fc.constantFrom(...lengths), digits: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 17, maxLength: 17 }) })
    .map(({ len, digits }) => {
      const body = "62" + digits.slice(0, len - 3).join("");
      return body + luhnCheckDigit(body);
    });
}

/** Change the digit at `pos` (modulo length) by `delta` (1..9), leaving a different digit. */
export function changeDigit(s: string, pos: number, delta: number): string {
  const i = pos % s.length;
  const c = s[i]!;
  const d = /\d/.test(c) ? (Number(c) + delta) % 10 : delta % 10;
  return s.slice(0, i) + String(d) + s.slice(i + 1);
}
