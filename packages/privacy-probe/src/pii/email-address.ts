import type { PiiDetector, PiiMatch } from "./pii-types.js";

/** ASCII local part and domain with a 2+ letter top-level label; not glued to a preceding address character. */
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;

/** True when the whole value is an e-mail address (the same grammar the detector scans with). */
export function isEmailAddress(value: string): boolean {
  EMAIL.lastIndex = 0;
  const m = EMAIL.exec(value);
  return m !== null && m.index === 0 && m[0].length === value.length;
}

/** E-mail addresses (score 0.9: the `@` + domain shape is specific enough without context). */
export function emailAddressDetector(): PiiDetector {
  return {
    kind: "email",
    priority: 1,
    find(text) {
      const out: PiiMatch[] = [];
      for (const m of text.matchAll(EMAIL)) {
        // A trailing dot is sentence punctuation, not part of the domain.
        const value = m[0];
        out.push({ kind: "email", start: m.index, end: m.index + value.length, text: value, score: 0.9, reasons: ["pattern"] });
      }
      return out;
    },
  };
}
