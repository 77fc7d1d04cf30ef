import { LETTERS, type Letter } from "../records.js";
import type { RowContext } from "./converter.js";

const LETTER_SET = new Set<string>(LETTERS);

/**
 * Parse an answer such as `"C"`, `"ACD"`, `"A,C"` or `"a c"` into sorted, distinct letters.
 * Anything else (empty, `nan`, letters outside A–J) fails naming `field`.
 */
export function parseAnswer(raw: string, field: string, ctx: RowContext<unknown>): Letter[] {
  const s = raw.trim().toUpperCase().replace(/[\s,，、;；]/g, "");
  if (!s || ![...s].every((c) => LETTER_SET.has(c))) ctx.fail(`answer ${JSON.stringify(raw)} is not a set of option letters`, field);
  return [...new Set(s)].sort() as Letter[];
}

/**
 * Split CMExam's option text `"A 原发病\nB 出血部位…"` into letters. Options are separated by real line breaks or
 * by the literal two-character sequence backslash-n that the CSV/xlsx export keeps; each starts with its letter.
 */
export function parseOptionList(raw: string, field: string, ctx: RowContext<unknown>): Partial<Record<Letter, string>> {
  const out: Partial<Record<Letter, string>> = {};
  const parts = raw.split(/\\n|\r?\n/).map((p) => p.trim()).filter(Boolean);
  for (const p of parts) {
    // "A 原发病" (space) or "A.原发病"/"A、原发病" (one punctuation mark); after a space the text is kept whole.
    const m = /^([A-J])(?:\s+|[.、．:：)）]\s*|$)(.*)$/s.exec(p);
    if (!m) ctx.fail(`option ${JSON.stringify(p.slice(0, 20))} does not start with a letter`, field);
    const letter = m[1] as Letter;
    if (letter in out) ctx.fail(`option ${letter} appears twice`, field);
    out[letter] = m[2]!.trim();
  }
  return out;
}
