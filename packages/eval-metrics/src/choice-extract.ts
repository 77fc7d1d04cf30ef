import { matchContent, normaliseText } from "./choice-content.js";
import {
  CONCLUDING,
  CONCLUSION,
  CONTENT_CUE,
  ci,
  collect,
  contentMatches,
  DISCLAIMER,
  HEDGE,
  type Hit,
  HYPOTHETICAL,
  lettersIn,
  listPattern,
  OPTION_LINE,
  prepare,
  regexesFor,
  SAYS_RIGHT,
  SAYS_WRONG,
  STRONG_CUE,
  sentences,
  verdicts,
} from "./choice-patterns.js";
import { classifyStem, type StemKind } from "./choice-stem.js";
import { stripThinking } from "./strip-thinking.js";

/** Option text by letter ("A" … "J"); other keys are ignored. */
export type ChoiceOptions = Readonly<Record<string, string | undefined>>;

export interface ExtractChoiceOptions {
  /**
   * The question accepts several letters. Affects only fallbacks: content matching may then return several
   * options, and several positively judged options are returned together.
   * @default what the stem says (多选/哪些), else false
   */
  multiple?: boolean;
  /**
   * The question stem. When given, a negated stem (「不属于……的是」「错误的是」「除外」) turns an option declared
   * wrong into the choice instead of an elimination, a stem asking 「哪些」 counts as multi-answer, and words the
   * stem shares with the options weigh less in content matching.
   */
  question?: string;
}

/** Where a letter choice was found, for debugging and tests. */
export interface ChoiceExtraction {
  letters: string[];
  /**
   * Which rule decided: "anchor" (答案是C), "verdict" (C项正确 / under a negated stem C项错误), "leading" (a reply
   * that opens with the letter), "content" (an option's text quoted in the conclusion), "conclusion" (the last
   * concluding sentence names one letter or, edit-tolerantly, one option's content), "single-letter" or "none".
   */
  rule: "anchor" | "verdict" | "leading" | "content" | "conclusion" | "single-letter" | "none";
  /** How the stem was read (positive when no stem was given). */
  stem: StemKind;
}

/**
 * Read the chosen option letter(s) from a free-text answer. Returns sorted, distinct letters from `options`'
 * keys, or `[]` when the answer does not say (never a guess).
 *
 * Steps: drop `<think>` blocks and trailing disclaimers → NFKC (full-width letters) → mask capitals inside terms
 * (CT, HBV-DNA, IgA, 维生素D, A型, B超) → read the stem (`question`): negated or not → anchored letters
 * (答案是/故选/正确选项/the answer is/\boxed{}), choosing the first anchor when the answer opens with it and
 * otherwise the last (conclusion markers first), minus excluded letters (不选A/排除A/不是A) and, for weaker
 * anchors, letters judged the other way (A错误; under a negated stem A正确) → per-option verdicts (C项正确; under a
 * negated stem C项错误) → a leading letter ("C。因为…") → option texts quoted in the conclusion → the last
 * concluding sentence: its letter(s), else the option its content matches edit-tolerantly with a margin → in a
 * short reply, a single letter mentioned alone → abstain.
 */
export function extractChoice(response: string, options: ChoiceOptions, opts: ExtractChoiceOptions = {}): string[] {
  return explainChoice(response, options, opts).letters;
}

/** What every step reads: the prepared text, the stem, and the letters excluded or judged so far. */
interface Reading {
  options: ChoiceOptions;
  opts: ExtractChoiceOptions;
  stem: StemKind;
  multiple: boolean;
  letters: Set<string>;
  cls: string;
  /** The NFKC text without thinking blocks and disclaimers. */
  plain: string;
  /** `plain` with term capitals masked (same length, so indices carry over). */
  text: string;
  rx: ReturnType<typeof regexesFor>;
  /** Letters the answer declines to choose (不选A, 排除A, 不是A). */
  excluded: Set<string>;
  /** Letters whose statement it calls wrong (A错误) — under a negated stem, right (A正确). */
  judged: Set<string>;
  /** Per-option verdicts under the stem's reading. */
  v: { pos: Set<string>; neg: Set<string> };
}

type Step = (r: Reading) => string[] | undefined;

/** `extractChoice` plus which rule decided. */
export function explainChoice(response: string, options: ChoiceOptions, opts: ExtractChoiceOptions = {}): ChoiceExtraction {
  const stem = classifyStem(opts.question);
  const done = (letters: string[], rule: ChoiceExtraction["rule"]): ChoiceExtraction => ({ letters, rule, stem });
  const r = read(response, options, opts, stem);
  if (!r) return done([], "none");
  const steps: [Step, ChoiceExtraction["rule"]][] = [
    [anchorStep, "anchor"],
    [verdictStep, "verdict"],
    [leadingStep, "leading"],
    [contentStep, "content"],
    [conclusionStep, "conclusion"],
    [singleLetterStep, "single-letter"],
  ];
  for (const [step, rule] of steps) {
    const letters = step(r);
    if (letters) return done(letters, rule);
  }
  return done([], "none");
}

/** Prepare the text and collect exclusions and judgements; undefined when there is nothing to read. */
function read(response: string, options: ChoiceOptions, opts: ExtractChoiceOptions, stem: StemKind): Reading | undefined {
  // An explicit `multiple` wins over the stem's wording (哪些 also opens single-answer questions).
  const multiple = opts.multiple ?? stem.multiple;
  const letters = new Set(Object.keys(options).filter((k) => /^[A-Z]$/.test(k) && options[k] !== undefined));
  if (letters.size === 0) return undefined;
  const cls = `[${[...letters].join("")}]`;
  // Trailing disclaimers ("以上分析仅供参考", "请以教材为准") are no part of the answer: drop them first.
  const plain = stripThinking(response).normalize("NFKC").trim().replace(DISCLAIMER, "").trim();
  const text = prepare(plain, letters);
  if (!text) return undefined;
  // A concluding anchor (综上/故/因此 …) overrides `judged` but not `excluded`.
  const excluded = new Set<string>();
  const judged = new Set<string>();
  const rx = regexesFor(cls);
  for (const h of collect(rx.negatives[0]!, text, letters)) h.letters.forEach((l) => excluded.add(l));
  for (const h of collect(stem.negated ? rx.stem.right : rx.negatives[1]!, text, letters)) h.letters.forEach((l) => judged.add(l));
  const v = verdicts(text, cls, letters, stem.negated);
  v.neg.forEach((l) => judged.add(l));
  return { options, opts, stem, multiple, letters, cls, plain, text, rx, excluded, judged, v };
}

const clean = (r: Reading, ls: string[]) => ls.filter((l) => !r.excluded.has(l) && !r.judged.has(l));

/** 1. Anchors (答案是C, 故选C, the answer is C). */
function anchorStep(r: Reading): string[] | undefined {
  const { text, letters, stem, excluded } = r;
  const hits: Hit[] = [];
  for (const { re, strength } of r.rx.anchors) {
    for (const h of collect(re, text, letters)) {
      if (/^\s*[)）]?\s*[吗么?？]/u.test(text.slice(h.end, h.end + 3)) || HYPOTHETICAL.test(text.slice(Math.max(0, h.index - 12), h.index))) continue;
      // An echoed question: "应首选\nA. 保和丸\nB. 越鞠丸" lists the options, it does not pick the first.
      // A list of chosen options on separate lines ("正确选项为：\nB. …\nD. …") does not start at the first letter.
      const [first, second] = [...letters].sort();
      if (/\n/.test(text.slice(h.index, h.end)) && h.letters.join("") === first && second && new RegExp(String.raw`^[^\n]*\n\s*${second}\s*[.．、:：)]`, "u").test(text.slice(h.end))) continue;
      // "答案A不是…", "选C是错的": the anchor names a letter only to reject it (under a negated stem, "不是…"
      // describes the chosen option instead).
      if (!stem.negated && /^\s*(?:项|选项)?\s*(?:不|错|是错|是不|并非|is\s+not|is\s+wrong|is\s+incorrect)/u.test(text.slice(h.end, h.end + 8))) {
        h.letters.forEach((l) => excluded.add(l));
        continue;
      }
      hits.push({ ...h, strength });
    }
  }
  for (const h of hits) h.letters = h.strength === 2 ? h.letters.filter((l) => !excluded.has(l)) : clean(r, h.letters);
  hits.splice(0, hits.length, ...hits.filter((h) => h.letters.length));
  if (!hits.length) return undefined;
  hits.sort((a, b) => a.index - b.index || b.end - a.end);
  const first = hits[0]!;
  const opensWithAnswer = /^[\s*#>【\[(（]*$/u.test(text.slice(0, first.index));
  let chosen: Hit;
  if (opensWithAnswer) chosen = first;
  else {
    const strong = hits.filter((h) => h.strength === 2);
    chosen = (strong.length ? strong : hits).reduce((a, b) => (b.index >= a.index ? b : a));
  }
  // Several anchors at the chosen spot (overlapping patterns) may see different list lengths: take the longest.
  const same = hits.filter((h) => h.index <= chosen.index && h.end >= chosen.index && h.index >= chosen.index - 8);
  return same.reduce((a, b) => (b.letters.length > a.letters.length && b.end >= a.end ? b : a), chosen).letters;
}

/** 2. Letters asserted chosen ("C项正确", "**C**"; under a negated stem "D不属于", "E说法有误"), minus the rest. */
function verdictStep(r: Reading): string[] | undefined {
  const { text, letters, stem, rx, multiple } = r;
  const positive = new Set<string>(r.v.pos);
  const positives = stem.negated ? [rx.stem.wrong, ...rx.positives.slice(1)] : rx.positives;
  for (const re of positives) for (const h of collect(re, text, letters)) h.letters.forEach((l) => positive.add(l));
  let pos = clean(r, [...positive].sort());
  if (stem.negated && !/说法|描述|叙述|表述|观点/u.test(text)) {
    // Under a negated stem a bare "B项正确" may judge the statement (then B is not the choice) or the choice
    // itself. Read it both ways; take the reading that fits the question type, and abstain when both fit and
    // disagree. With 说法/描述 the statement reading stands alone.
    const v0 = verdicts(text, r.cls, letters, false);
    const judged0 = new Set<string>(v0.neg);
    for (const h of collect(rx.negatives[1]!, text, letters)) h.letters.forEach((l) => judged0.add(l));
    const positive0 = new Set<string>(v0.pos);
    for (const re of rx.positives) for (const h of collect(re, text, letters)) h.letters.forEach((l) => positive0.add(l));
    const plainPos = [...positive0].filter((l) => !r.excluded.has(l) && !judged0.has(l)).sort();
    const fits = (ls: string[]) => ls.length === 1 || (multiple && ls.length > 1);
    if (fits(pos) && fits(plainPos) && pos.join("") !== plainPos.join("")) pos = [];
    else if (!fits(pos) && fits(plainPos)) pos = plainPos;
  }
  return pos.length === 1 || (pos.length > 1 && multiple) ? pos : undefined;
}

/**
 * 3. Answer-first: the reply opens with a letter (list) and does not go on to walk through the options.
 * "A、C属于……" opens with a list that runs on into a sentence: not a leading answer.
 */
function leadingStep(r: Reading): string[] | undefined {
  const { text, cls } = r;
  const lead = text.match(new RegExp(String.raw`^[\s*(（【\[]*${listPattern(cls)}(?!\s*(?:[、,，/&]|和|及|与)\s*${cls})\s*[)）】\]*]?\s*(?=[.．、。:：,，;；\s]|$)`, "u"));
  if (!lead) return undefined;
  const l = clean(r, lettersIn(lead[1]!, r.letters));
  const walksOptions = new RegExp(String.raw`\n\s*(?!${lead[1]![0]})${cls}\s*[.．、:：)]`, "u").test(text);
  return l.length && !walksOptions ? l : undefined;
}

/**
 * 4. Content: option texts in the conclusion — the sentence after the last concluding phrase, or the whole of a
 *    short reply. A long text that merely mentions an option's words without concluding is not an answer.
 */
function contentStep(r: Reading): string[] | undefined {
  const { text, plain, letters, options, opts, stem, multiple } = r;
  const markers = [...text.matchAll(new RegExp(`${CONCLUSION}|答案|${ci("answer")}|诊断为|考虑为|应为|而是|最可能(?:的)?(?:诊断)?是`, "gu"))];
  const scopes: string[] = [];
  if (plain.length <= 40) scopes.push(plain);
  const lastMarker = markers.at(-1);
  if (lastMarker) scopes.push(plain.slice(lastMarker.index!).split(/(?<=[。！!？?\n])/)[0]!);
  // A reply that is exactly one option's text (however short: 肾。).
  const whole = [...letters].filter((l) => normaliseText(options[l]!) !== "" && normaliseText(options[l]!) === normaliseText(plain));
  if (whole.length === 1) return whole;
  for (const scope of scopes) {
    // Under a positive stem a conclusion that calls the option wrong is an elimination ("不是X，而是Y" corrects).
    if (stem.negated === false && opts.question !== undefined && SAYS_WRONG.test(scope.replace(/(?:不是|并非)[^。]*?而是/gu, ""))) return undefined;
    const c = contentMatches(scope, options, opts.question?.normalize("NFKC")).filter((l) => !r.excluded.has(l) && (stem.negated || !r.judged.has(l)));
    // Every option's text quoted is an echoed option list, not a multi-answer verdict.
    if (c.length === 1 || (c.length > 1 && multiple && c.length < letters.size)) return c;
    if (c.length > 1) return undefined;
  }
  return undefined;
}

/**
 * 5. The last concluding sentence: the letter(s) it names, else the option it states (edit-tolerant). A sentence
 *    that calls something wrong concludes only under a negated stem (otherwise it is an elimination); hedges and
 *    questions conclude nothing.
 */
function conclusionStep(r: Reading): string[] | undefined {
  const { text } = r;
  const spans = sentences(text);
  // Near the end: a verdict is followed by at most two sentences (a caveat); with a strong cue (答案/应选…), any.
  const near = spans.slice(-3).reverse().find(([a, b]) => CONCLUDING.test(text.slice(a, b)));
  const strong = [...spans].reverse().find(([a, b]) => STRONG_CUE.test(text.slice(a, b)) && CONCLUDING.test(text.slice(a, b)));
  // The near concluding sentence first; if it settles nothing (a closing remark, not a hedge), the last strong one.
  for (const last of near && strong && strong[0] < near[0] ? [near, strong] : near ? [near] : strong ? [strong] : []) {
    const verdict = sentenceVerdict(r, last);
    if (verdict === "hedge") return undefined;
    if (verdict) return verdict;
  }
  return undefined;
}

/** The letters one concluding sentence settles on, "hedge" when it hedges, undefined when it settles nothing. */
function sentenceVerdict(r: Reading, last: [number, number]): string[] | "hedge" | undefined {
  const { text, cls, letters, options, stem, multiple, excluded } = r;
  // "C和D都有可能，但C更符合": after a turn (但/不过/然而), only the part after it concludes.
  const turn = [...text.slice(last[0], last[1]).matchAll(/(?:但是|但|不过|然而)(?=[^，,。]*[A-J]|[^，,。]*(?:更|最))/gu)].at(-1);
  const from = turn ? last[0] + turn.index! : last[0];
  const sent = text.slice(from, last[1]);
  // Letters are read from the clause holding the last cue onwards ("A项不妥，其中只有B选项最符合"); content from
  // the whole sentence ("综上，X不属于此类，故选它").
  const cueAt = [...sent.matchAll(new RegExp(CONCLUDING.source, "gu"))].at(-1)?.index ?? 0;
  const clause = sent.slice(Math.max(...[..."，,;；"].map((c) => sent.lastIndexOf(c, cueAt))) + 1);
  const polarity = (x: string) => (SAYS_WRONG.test(x) ? "wrong" : SAYS_RIGHT.test(x) ? "right" : "neutral");
  const agrees = (x: string) => (stem.negated ? polarity(x) !== "right" : polarity(x) !== "wrong");
  // "以上都不是" hedges unless it is itself an option's text.
  const hedged = HEDGE.test(sent.replace(/以上(?:选项)?(?:都|均)(?:不|非)\S{0,3}/gu, (w) => (Object.values(options).some((o) => o && normaliseText(o).includes(normaliseText(w).slice(0, 4))) ? "" : w)));
  if (hedged) return "hedge";
  const named = new Set<string>();
  // Bracketed per-option notes ("（E对）", "（C错）") were read as verdicts above; here they are not a verdict.
  const unnoted = clause.replace(new RegExp(String.raw`[(（]\s*${cls}\s*(?:项)?\s*(?:对|错|正确|错误)\s*[)）]`, "gu"), (w) => "＿".repeat(w.length));
  for (const m of unnoted.matchAll(new RegExp(listPattern(cls), "gu"))) lettersIn(m[1]!, letters).forEach((l) => named.add(l));
  const ls = [...named].filter((l) => !excluded.has(l)).sort();
  if (named.size) {
    const ok = agrees(clause) && !OPTION_LINE.test(clause);
    if (ok && (ls.length === 1 || (multiple && ls.length > 1 && ls.length < letters.size))) return ls;
  } else if (CONTENT_CUE.test(sent) && agrees(sent) && !OPTION_LINE.test(sent)) {
    const opt: Record<string, string> = {};
    for (const l of letters) opt[l] = options[l]!;
    const c = matchContent(r.plain.slice(from, last[1]), opt, { stem: r.opts.question ?? "", multiple }).filter((l) => !excluded.has(l));
    if (c.length) return c;
  }
  return undefined;
}

/** 6. A short reply that mentions exactly one option letter (after masking), not negated. */
function singleLetterStep(r: Reading): string[] | undefined {
  const { text, letters } = r;
  const mentioned = new Set<string>();
  for (const m of text.matchAll(new RegExp(listPattern(r.cls), "gu"))) lettersIn(m[1]!, letters).forEach((l) => mentioned.add(l));
  if (mentioned.size === 1 && r.excluded.size === 0 && r.judged.size === 0 && text.length <= 30 && !HEDGE.test(text)) return [...mentioned];
  return undefined;
}
