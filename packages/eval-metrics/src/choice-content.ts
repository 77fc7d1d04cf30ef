/**
 * Edit-tolerant matching of an answer's concluding sentence against option texts: each option scores the share
 * of its character bigrams found in the sentence, each bigram weighted by how distinctive it is among the
 * options (a bigram shared by every option says nothing) and down-weighted when the stem contains it (a
 * restated question is not an answer). Typos, dropped characters and changed punctuation cost a bigram or two.
 */

/** NFKC, lower case, letters/digits/CJK only. */
export function normaliseText(s: string): string {
  return s.normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");
}

function bigrams(s: string): string[] {
  const c = Array.from(s);
  if (c.length === 1) return [c[0]!];
  const out: string[] = [];
  for (let i = 0; i + 1 < c.length; i++) out.push(c[i]! + c[i + 1]!);
  return out;
}

/**
 * Whether the occurrence `text[start, start + len)` belongs to a restatement of the stem: some window two
 * characters wider than it on either side (or both) occurs in the stem. "疮" in "……的疮疡病变是" when the stem
 * says 疮疡病变; not "疮" in "答案是疮".
 */
export function insideStem(text: string, start: number, len: number, stem: string): boolean {
  if (!stem) return false;
  for (const [a, b] of [[2, 0], [0, 2], [1, 1], [2, 2]] as const) {
    if (start - a < 0 || start + len + b > text.length) continue;
    if (stem.includes(text.slice(start - a, start + len + b))) return true;
  }
  return false;
}

export interface ContentScore {
  letter: string;
  score: number;
}

/** Scores in [0, 1] per option, best first. */
export function scoreOptions(sentence: string, options: Readonly<Record<string, string>>, stem = ""): ContentScore[] {
  const scope = normaliseText(sentence);
  const scopeGrams = new Set(bigrams(scope));
  const stemGrams = new Set(bigrams(normaliseText(stem)));
  const grams = Object.entries(options).map(([letter, t]) => ({ letter, t: normaliseText(t), g: [...new Set(bigrams(normaliseText(t)))] }));
  const df = new Map<string, number>();
  for (const o of grams) for (const b of o.g) df.set(b, (df.get(b) ?? 0) + 1);
  const n = grams.length;
  const out = grams.map(({ letter, t, g }) => {
    if (!t) return { letter, score: 0 };
    // Short options (one or two characters) must appear whole.
    if (Array.from(t).length <= 2) {
      let hit = false;
      for (let i = scope.indexOf(t); i >= 0 && !hit; i = scope.indexOf(t, i + 1)) hit = !insideStem(scope, i, t.length, normaliseText(stem));
      return { letter, score: hit ? 1 : 0 };
    }
    let num = 0;
    let den = 0;
    for (const b of g) {
      const w = (n > 1 ? Math.log((n + 1) / df.get(b)!) : 1) * (stemGrams.has(b) ? 0.35 : 1);
      den += w;
      if (scopeGrams.has(b)) num += w;
    }
    return { letter, score: den > 0 ? num / den : 0 };
  });
  return out.sort((a, b) => b.score - a.score || a.letter.localeCompare(b.letter));
}

/**
 * The option(s) the sentence names: the best when it scores at least `min` and leads the next by `margin`;
 * with `multiple`, every option at or above `min` whose lead over the best non-chosen option is `margin`.
 */
export function matchContent(
  sentence: string,
  options: Readonly<Record<string, string>>,
  { stem = "", multiple = false, min = 0.6, margin = 0.3 }: { stem?: string; multiple?: boolean; min?: number; margin?: number } = {},
): string[] {
  // An option quoted whole (after normalisation) decides, the most specific one when several are: 慢性肾盂肾炎
  // contains 肾盂肾炎. Bigram scores below handle the rest (typos, dropped characters).
  const norm = normaliseText(sentence);
  const stemNorm = normaliseText(stem);
  const quoted = (t: string) => {
    for (let i = norm.indexOf(t); i >= 0; i = norm.indexOf(t, i + 1)) if (!insideStem(norm, i, t.length, stemNorm)) return true;
    return false;
  };
  const whole = Object.entries(options)
    .map(([letter, t]) => ({ letter, t: normaliseText(t) }))
    .filter((o) => o.t && quoted(o.t));
  const specific = whole.filter((o) => !whole.some((p) => p !== o && p.t.length > o.t.length && p.t.includes(o.t)));
  if (specific.length === 1 || (multiple && specific.length > 1 && specific.length < Object.keys(options).length)) return specific.map((o) => o.letter).sort();
  if (specific.length > 1) return [];
  const s = scoreOptions(sentence, options, stem);
  if (!s.length || s[0]!.score < min) return [];
  if (!multiple) return s[0]!.score - (s[1]?.score ?? 0) >= margin ? [s[0]!.letter] : [];
  const chosen = s.filter((x) => x.score >= min);
  const rest = s.find((x) => x.score < min);
  if (rest && chosen.at(-1)!.score - rest.score < margin) return [];
  if (chosen.length === s.length && s.length > 2) return [];
  return chosen.map((x) => x.letter).sort();
}
