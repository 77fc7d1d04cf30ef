import { createRequire } from "node:module";
import { loadPeerSync } from "@sfmed/schema/io";

/** How texts are cut into tokens for ROUGE-L. */
export type Tokenizer = "char" | "jieba" | "whitespace" | ((text: string) => string[]);

/**
 * True for a code point Python's `str.split()` treats as whitespace (what `' '.join(list(s)).split()` removes in
 * the reference tools): \t–\r, \x1c–\x1f, space, \x85, \xa0, U+1680, U+2000–U+200A, U+2028/9, U+202F, U+205F, U+3000.
 */
export function isPythonWhitespace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp === 0x85 || cp === 0xa0 || cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000
  );
}

/**
 * Code points of `text` with whitespace removed, as integers. Astral characters (CJK Ext-B such as 𠀀) are one
 * token each. Whitespace follows Python's `str.split()` so scores match `list(s)`-based reference scripts.
 */
export function charCodes(text: string): Int32Array {
  const out = new Int32Array(text.length);
  return out.subarray(0, charCodesInto(text, out, 0));
}

/**
 * {@link charCodes} written into `out` from index `at` (room for `text.length` more); returns the count. Reaches
 * nothing but {@link isPythonWhitespace}, so worker threads run it from source too.
 */
export function charCodesInto(text: string, out: Int32Array, at: number): number {
  let n = at;
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = (cp - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
        i++;
      }
    }
    if (cp <= 0x3000 && isPythonWhitespace(cp)) continue;
    out[n++] = cp;
  }
  return n - at;
}

interface JiebaLike {
  cut(text: string, hmm?: boolean): string[];
}
let jieba: JiebaLike | undefined;

/** The shared jieba segmenter with its default dictionary, loaded on first use (≈0.5 s). */
export function jiebaSegmenter(): JiebaLike {
  if (!jieba) {
    // Loaded lazily (native binary + 5 MB dictionary). The CJS build has no import.meta, the ESM build no __filename.
    const load = createRequire(typeof __filename === "string" ? __filename : import.meta.url);
    const { Jieba } = loadPeerSync("@node-rs/jieba", 'tokenizer "jieba"', () => load("@node-rs/jieba")) as { Jieba: { withDict(d: Uint8Array): JiebaLike } };
    const { dict } = loadPeerSync("@node-rs/jieba", 'tokenizer "jieba"', () => load("@node-rs/jieba/dict")) as { dict: Uint8Array };
    jieba = Jieba.withDict(dict);
  }
  return jieba;
}

/**
 * Cut `text` into tokens.
 * - `"char"`: code points with whitespace removed (default everywhere in this package).
 * - `"jieba"`: jieba words (precise mode with HMM, as Python `jieba.cut`), whitespace tokens dropped.
 * - `"whitespace"`: split on runs of whitespace.
 * - a function: called as is.
 * @default "char"
 */
export function tokenize(text: string, tokenizer: Tokenizer = "char"): string[] {
  if (typeof tokenizer === "function") return tokenizer(text);
  switch (tokenizer) {
    case "char":
      return Array.from(charCodes(text), (c) => String.fromCodePoint(c));
    case "whitespace":
      return text.split(/\s+/u).filter((t) => t.length > 0);
    case "jieba":
      return jiebaSegmenter()
        .cut(text, true)
        .filter((t) => Array.from(t).some((ch) => !isPythonWhitespace(ch.codePointAt(0)!)));
  }
}
