// List markers a model puts before items: "1." "1、" "1)" "(1)" "（1）" "一、" "第1条：" "-" "*" "•" "·".
// A number is a marker only when punctuation follows it, and not a decimal point or a clock ("1.5毫克", "10:30").
const MARKER =
  /^\s*(?:(?:[(（]\s*)?(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*(?:[.．:：](?!\d)|[、)）])|第\s*\d{1,3}\s*[条个]\s*[:：]?|[-*+](?=\s)|[•·●▪◦]|#{1,6}(?=\s))\s*/u;
// Lines that introduce a list rather than being an instruction ("以下是扩展的指令：", "Here are more instructions:").
const PREAMBLE = /^(?:以下|下面|好的|当然|这里|扩展|现在|here|sure|certainly|below|now|okay|ok\b)[^。！？!?]*[:：]$/iu;

export interface SplitOptions {
  /** True when the model stopped at its token limit: the last item may be cut off, so drop it. @default false */
  truncated?: boolean | undefined;
  /**
   * `"list"`: one candidate per line (the numbered layout). `"one"`: the whole answer is one instruction (the
   * Figure 2 layout): cleaned lines are joined with `joiner`, and a truncated answer gives none; an answer with
   * two or more list-marked lines is a list after all and is split as in `"list"` (a truncated one gives none).
   * @default "list"
   */
  mode?: "list" | "one" | undefined;
  /** What joins the lines of a `"one"` answer: "" for Chinese, " " for English. @default "" */
  joiner?: string | undefined;
}

/**
 * Step 4a: cut a model's answer into candidate instructions — one per line (or, in `"one"` mode, the lines
 * joined into a single candidate), list markers and wrapping quotes removed, preambles and empty lines dropped.
 */
export function splitCandidates(text: string, opts: SplitOptions = {}): string[] {
  const out: string[] = [];
  let marked = 0;
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (!line) continue;
    const hadMarker = MARKER.test(line);
    // Strip nested markers such as "1. - " (each pass eats at least one character, so this ends).
    for (let m = MARKER.exec(line); m && m[0].length > 0; m = MARKER.exec(line)) line = line.slice(m[0].length).trim();
    line = unwrap(line);
    if (!line || PREAMBLE.test(line)) continue;
    out.push(line);
    if (hadMarker) marked++;
  }
  if (opts.mode === "one") {
    // A cut-off answer is an incomplete instruction: nothing to keep.
    if (opts.truncated || out.length === 0) return [];
    // A model that wrote a list anyway gave several instructions: split them as the paper does.
    if (marked >= 2) return out;
    // Quotes may open on the first line and close on the last.
    const one = unwrap(out.join(opts.joiner ?? "").trim());
    return one ? [one] : [];
  }
  if (opts.truncated && out.length > 0) out.pop();
  return out;
}

// Bold markup or quotes around the whole text.
function unwrap(s: string): string {
  s = s.replace(/^\*\*(.*)\*\*$/su, "$1").trim();
  return s.replace(/^["“「『](.*)["”」』]$/su, "$1").trim();
}
