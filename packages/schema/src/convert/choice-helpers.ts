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

/** `"A. 甲"`, `"A、甲"`, `"A：甲"`: a letter and one punctuation mark opening a list item. */
const ITEM_PREFIX = /^([A-J])\s*[.、．:：)）]\s*/s;

/**
 * Options in any of the shapes exam dumps use: an object keyed by letter (`{"A": "…", "B": "…"}`; null or blank
 * values are empty slots and dropped, as CMB's `option` has them), a list of texts (letters follow the order; an
 * item opening with its own letter and a punctuation mark, `"B. 乙"`, loses that prefix), a list of
 * `{key, value}` objects, a JSON string of one of those, or the line-per-option text of {@link parseOptionList}.
 */
export function parseOptions(raw: unknown, field: string, ctx: RowContext<unknown>): Partial<Record<Letter, string>> {
  if (typeof raw === "string") {
    const t = raw.trim();
    if (t.startsWith("{") || t.startsWith("[")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(t);
      } catch {
        return ctx.fail("options look like JSON but do not parse", field);
      }
      return parseOptions(parsed, field, ctx);
    }
    return parseOptionList(raw, field, ctx);
  }
  const out: Partial<Record<Letter, string>> = {};
  const put = (key: string, v: unknown) => {
    const letter = key.trim().toUpperCase();
    if (!LETTER_SET.has(letter)) ctx.fail(`option key ${JSON.stringify(key)} is not a letter A–J`, field);
    if (v === null || v === undefined) return;
    if (typeof v !== "string" && typeof v !== "number") ctx.fail(`option ${letter} must be text`, field);
    const text = String(v).trim();
    if (!text) return;
    if (letter in out) ctx.fail(`option ${letter} appears twice`, field);
    out[letter as Letter] = text;
  };
  if (Array.isArray(raw)) {
    if (raw.length > LETTERS.length) ctx.fail(`${raw.length} options; at most ${LETTERS.length} (A–J)`, field);
    raw.forEach((item, i) => {
      if (item !== null && typeof item === "object" && !Array.isArray(item) && "key" in item) {
        const kv = item as { key: unknown; value?: unknown };
        return put(String(kv.key), kv.value);
      }
      const letter = LETTERS[i]!;
      if (typeof item === "string") {
        const m = ITEM_PREFIX.exec(item);
        return put(letter, m && m[1] === letter ? item.slice(m[0].length) : item);
      }
      return put(letter, item);
    });
    return out;
  }
  if (raw !== null && typeof raw === "object") {
    for (const [k, v] of Object.entries(raw)) put(k, v);
    return out;
  }
  return ctx.fail(raw === undefined ? "missing options" : "options must be an object, a list or text", field);
}

/** An answer given as text (`"ACD"`, `"A,C"`) or as a list of letters (`["A", "C"]`); see {@link parseAnswer}. */
export function parseAnswerValue(raw: unknown, field: string, ctx: RowContext<unknown>): Letter[] {
  if (typeof raw === "string") return parseAnswer(raw, field, ctx);
  if (Array.isArray(raw) && raw.length && raw.every((x) => typeof x === "string")) return parseAnswer(raw.join(","), field, ctx);
  return ctx.fail(raw === undefined || raw === null ? "missing answer" : `answer ${JSON.stringify(raw)} is not a set of option letters`, field);
}
