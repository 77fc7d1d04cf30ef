/** Everything that is not a letter (L*) or a number (N*): whitespace, punctuation, symbols, marks, controls. */
const NOT_LETTER_OR_NUMBER = /[^\p{L}\p{N}]+/gu;

/** Name and version of the default normalisation, recorded in reports and saved indexes. */
export const NORMALIZATION = "nfkc-lower-LN-v1";

/** The definition: NFKC, lower case, drop everything outside L* and N*. */
function normalizeSlow(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(NOT_LETTER_OR_NUMBER, "");
}

/**
 * Code units whose NFKC + lower-case + L/N filter is known without Unicode tables: 0 = drop, 1 = keep as is,
 * 2 = ASCII upper → lower, 3 = full-width ASCII (U+FF01–FF5E) → ASCII first, −1 = unknown (use the slow path).
 */
function classify(c: number): number {
  if (c < 0x80) {
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a)) return 1;
    if (c >= 0x41 && c <= 0x5a) return 2;
    return 0;
  }
  if (c >= 0x4e00 && c <= 0x9fff) return 1; // CJK unified ideographs: no decomposition, category Lo
  if (c >= 0xff01 && c <= 0xff5e) return 3;
  // common Chinese punctuation and spaces (all P*, S* or Z*, unchanged by lower case; NFKC keeps them outside L/N)
  if (c === 0x3000 || c === 0x3001 || c === 0x3002 || (c >= 0x3008 && c <= 0x3011) || (c >= 0x3014 && c <= 0x301f)) return 0;
  if (c === 0x00a0 || c === 0x00b7 || (c >= 0x2010 && c <= 0x2027) || c === 0x2030) return 0;
  return -1;
}

/**
 * The default text normalisation before shingling: Unicode NFKC (full-width letters and digits become
 * half-width), lower case, then keep only code points in Unicode categories L* and N*. Numbers stay verbatim
 * ("5mg" and "50mg" remain different), unlike tools that map every digit to 0. Texts made only of ASCII, CJK
 * ideographs, full-width forms and common punctuation take a table-free fast path with the same result.
 *
 * @example normalizeText("高血压，5 MG！") === "高血压5mg"
 */
export function normalizeText(text: string): string {
  let out = "";
  let start = 0; // start of the current run of kept-as-is units
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const k = classify(c);
    if (k === 1) continue;
    if (k < 0) return normalizeSlow(text);
    if (i > start) out += text.slice(start, i);
    start = i + 1;
    if (k === 2) out += String.fromCharCode(c + 32);
    else if (k === 3) {
      const a = c - 0xff01 + 0x21;
      if ((a >= 0x30 && a <= 0x39) || (a >= 0x61 && a <= 0x7a)) out += String.fromCharCode(a);
      else if (a >= 0x41 && a <= 0x5a) out += String.fromCharCode(a + 32);
    }
  }
  return start === 0 ? text : text.length > start ? out + text.slice(start) : out;
}

/** BMP blocks whose characters are mapped one by one from a table built with the definition itself. */
const TABLE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x80, 0x24f], // Latin-1, Latin Extended-A/B: °, ±, ×, ², é, …
  [0x370, 0x3ff], // Greek: α, β, μ, …
  [0x2000, 0x2bff], // punctuation, super/subscripts, ℃, Ⅱ, arrows, ≥, ①, shapes, …
  [0x3000, 0x33ff], // CJK symbols, kana, enclosed CJK, ㎎, ㎏, …
];
const TABLE_END = 0x3400;
const UNKNOWN = -1;
const DROP = -2;
let table: Int32Array | undefined; // per code unit: UNKNOWN, DROP, a code point, or −3 − i for expansions[i]
let expansions: Int32Array[] = [];

/**
 * The definition applied to each character of {@link TABLE_RANGES} alone. A character is only tabled when its
 * result cannot depend on its neighbours: not a combining mark, not decomposing to one first, and giving the same
 * result next to letters on either side and next to itself (this rules out the final-sigma rule of lower case),
 * and not becoming a conjoining Hangul jamo: those are letters, not marks, yet NFKC composes them with the
 * character before (㉮ㄳ → 가 + ᆪ → 갃), so their result depends on the neighbour.
 */
function buildTable(): Int32Array {
  const t = new Int32Array(TABLE_END).fill(UNKNOWN);
  const list: Int32Array[] = [];
  const mark = /^\p{M}/u;
  const jamo = /[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]/u;
  for (const [lo, hi] of TABLE_RANGES) {
    for (let c = lo; c <= hi; c++) {
      const ch = String.fromCharCode(c);
      if (mark.test(ch) || mark.test(ch.normalize("NFKD")) || jamo.test(ch.normalize("NFKD"))) continue;
      const r = normalizeSlow(ch);
      if (normalizeSlow(`a${ch}`) !== `a${r}` || normalizeSlow(`${ch}a`) !== `${r}a` || normalizeSlow(`一${ch}一`) !== `一${r}一` || normalizeSlow(ch + ch) !== r + r) continue;
      const cps = Array.from(r, (x) => x.codePointAt(0)!);
      if (cps.length === 0) t[c] = DROP;
      else if (cps.length === 1) t[c] = cps[0]!;
      else {
        t[c] = -3 - list.length;
        list.push(Int32Array.from(cps));
      }
    }
  }
  expansions = list;
  return t;
}

/**
 * {@link normalizeText} fused with reading code points: writes the code points of the normalised text into
 * `out` (at least `text.length` long) without building a string, and returns their count, or −1 when the text
 * leaves the fast path or its expansions (㎎ → mg) do not fit in `out` (then call `normalizeText` and read its
 * code points). Besides the table-free classes,
 * characters of common symbol blocks (°, ×, α, ①, ℃, Ⅱ, ≥, ㎎, …) go through a per-character table.
 */
export function normalizedCodePointsInto(text: string, out: Int32Array): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x4e00 && c <= 0x9fff) {
      out[n++] = c;
      continue;
    }
    const k = classify(c);
    if (k === 1) out[n++] = c;
    else if (k === 2) out[n++] = c + 32;
    else if (k === 3) {
      const a = c - 0xff01 + 0x21;
      if ((a >= 0x30 && a <= 0x39) || (a >= 0x61 && a <= 0x7a)) out[n++] = a;
      else if (a >= 0x41 && a <= 0x5a) out[n++] = a + 32;
    } else if (k < 0) {
      if (c >= TABLE_END) return -1;
      const v = (table ??= buildTable())[c]!;
      if (v >= 0) out[n++] = v;
      else if (v === UNKNOWN) return -1;
      else if (v !== DROP) {
        const e = expansions[-3 - v]!;
        // the rest of the text must still fit one unit per code unit
        if (n + e.length > out.length - (text.length - i - 1)) return -1;
        out.set(e, n);
        n += e.length;
      }
    }
  }
  return n;
}

export { normalizeSlow as normalizeTextReference };
