// The patterns and text readers behind `explainChoice`: term masking, letter lists, anchor / verdict regexes
// (built once per option-letter set), per-option verdicts, content matches and sentence spans.
import { insideStem } from "./choice-content.js";
import type { ChoiceOptions } from "./choice-extract.js";

// Characters that may follow a capital letter inside a medical term rather than an option reference:
// A型, B超, C肽, P波, X线, Q热, A级, B族, H抗原, M蛋白, C反应蛋白, 5A级 …
const TERM_SUFFIX = /^(?:型|超|肽|波|线|热|级|族|类|群|亚|期|带|区|环|链|抗原|抗体|蛋白|反应|因子|细胞|淋巴|受体|病毒|肝炎|组血|段|点|值|分)/;
// …or precede it: 维生素D, 因子X, 乙肝e抗原's neighbours are lowercase and never options anyway.
const TERM_PREFIX = /(?:维生素|维他命|因子|类型|血型|分型|分级|亚型|辅酶|细胞色素)\s*$/;
// English words after a capital "A" that make it the article, not option A ("A patient with …").
const ARTICLE_FOLLOWERS = /^ (?!(?:is|was|are|and|or|to|would|seems|best|correct|fits|matches|only|because|describes|refers|states|also|as)\b)[a-z]/;

const MASK = "#";

/** NFKC (full-width letters and punctuation to ASCII), then mask capitals that belong to terms. */
export function prepare(text: string, letters: ReadonlySet<string>): string {
  const s = text.normalize("NFKC");
  const chars = Array.from(s);
  const out = chars.slice();
  let i = 0;
  while (i < chars.length) {
    if (!/[A-Za-z]/.test(chars[i]!)) {
      i++;
      continue;
    }
    let j = i;
    while (j < chars.length && /[A-Za-z]/.test(chars[j]!)) j++;
    const run = chars.slice(i, j).join("");
    const before = chars[i - 1] ?? "";
    const after = chars[j] ?? "";
    const rest = chars.slice(j, j + 16).join("");
    const head = chars.slice(Math.max(0, i - 6), i).join("");
    let keep: boolean;
    if (run.length === 1) {
      keep =
        letters.has(run) &&
        !/[0-9]/.test(before) &&
        !/[0-9]/.test(after) &&
        !(before === "-" && /[A-Za-z0-9]/.test(chars[i - 2] ?? "")) &&
        !(after === "-" && /[A-Za-z0-9]/.test(chars[j + 1] ?? "")) &&
        !TERM_SUFFIX.test(rest) &&
        !TERM_PREFIX.test(head) &&
        !(run === "A" && ARTICLE_FOLLOWERS.test(rest));
    } else {
      // A run of option letters, distinct and ascending ("ACD"), is a list; any other Latin run is a word
      // or an abbreviation (CT, MRI, HBV, IgA, DNA, NYHA) whose capitals are not options.
      keep = isLetterList(run, letters) && !/[0-9]/.test(after) && !TERM_SUFFIX.test(rest) && !TERM_PREFIX.test(head);
    }
    // Only option letters need hiding; other capitals (the "I" of "I would choose") stay readable.
    if (!keep) for (let k = i; k < j; k++) out[k] = letters.has(chars[k]!) ? MASK : chars[k]!;
    i = j;
  }
  return out.join("");
}

function isLetterList(run: string, letters: ReadonlySet<string>): boolean {
  let prev = "";
  for (const c of run) {
    if (!letters.has(c) || c <= prev) return false;
    prev = c;
  }
  return true;
}

export interface Hit {
  index: number;
  end: number;
  letters: string[];
  /** 2: conclusion marker (综上/故/therefore …); 1: plain anchor. */
  strength: number;
}

// Separators stay on one line: in "答：D\nA项……" the list ends at the newline.
const SEP = String.raw`(?:[ \t\u3000]*(?:[、,，/&;；]|和|及|与|以及|或|或者|\band\b|\bor\b)[ \t\u3000]*|[ \t\u3000]+)`;
const OPEN = String.raw`[\s:："“'「『【\[(（*$]*(?:\\boxed\{|\\text\{|\\mathrm\{)?[\s(（]*(?:选项|option\s*|choice\s*)?`;

export function listPattern(cls: string): string {
  // A list of option letters, each bounded so that "CT" or "T3" never yields "C"/"T" (masking did most of it).
  return String.raw`(?<![A-Za-z0-9])(${cls}(?:${SEP}?${cls})*)(?![A-Za-z0-9])`;
}

export function lettersIn(list: string, letters: ReadonlySet<string>): string[] {
  return Array.from(new Set(Array.from(list).filter((c) => letters.has(c)))).sort();
}

/** Case-insensitive spelling of an English word without the `i` flag (which would let [A-E] match "a"–"e"). */
export function ci(word: string): string {
  return word.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`);
}

export const CONCLUSION = String.raw`(?:综上所述|综上|因此|所以|故而|故|因而|由此可见|总之|最终|最后|总结|\b(?:${["therefore", "thus", "hence", "so", "in conclusion", "final answer"].map(ci).join("|")})\b)`;

/** Anchor phrases that introduce the chosen letter(s); group 1 of the built regex is the letter list. */
function anchorRegexes(cls: string): { re: RegExp; strength: number }[] {
  const list = listPattern(cls);
  const zh = [
    // 综上，答案为C / 所以本题选C / 故选C / 因此正确答案是C
    { src: String.raw`${CONCLUSION}[,，:：\s]*(?:本题)?(?:的)?(?:正确|最佳|最终)?(?:的)?(?:答案|选项)?(?:应该|应当|应|可以|可)?(?:是|为|选择|选|当选|选出)`, strength: 2 },
    // 答案是C / 正确答案：C / 最佳答案是D / 【答案】C / 答案C / 答：C
    { src: String.raw`(?:【答案】|\[答案\]|(?:正确|最佳|最终|标准|参考|最合适的|最恰当的|本题的?|该题的?)?答案(?:选项)?(?:应该|应当|应|可能|就|肯定)?(?:是|为|选择|选|包括|有|:|：)?|^\s*答[:：])`, strength: 1 },
    // 应选C / 本题选C / 选择C (but not 不选A / 选项A / 误选A)
    { src: String.raw`(?<![不未误错勿])(?:应该|应当|应|宜|可|本题|则|我|我会|我们)?(?:选择|选)(?!项)(?:答案|选项)?(?:为|是)?`, strength: 1 },
    // 正确选项：A、B和E / 正确的一项是C / 正确的是C
    { src: String.raw`正确(?:的)?(?:选项|一项|项|是|答案)(?:应该|应)?(?:是|为)?`, strength: 1 },
    // 不是A，而是C / 而应选C / 应为C
    { src: String.raw`(?:而是|而应(?:选择|选|是|为)?|应为|应是|当选的?是)`, strength: 1 },
  ];
  const en = [
    { src: String.raw`(?:${ci("the")}\s+)?(?:(?:${["correct", "right", "best", "final", "most likely", "most appropriate"].map(ci).join("|")})\s+)?(?:${["answer", "option", "choice"].map(ci).join("|")})s?\s*(?:is|are|would\s+be|should\s+be|will\s+be|=|:)`, strength: 1 },
    { src: String.raw`\bI\s*(?:would\s+|will\s+|'d\s+)?(?:choose|select|pick|go\s+with)`, strength: 1 },
    { src: String.raw`\\boxed\{`, strength: 2 },
  ];
  return [
    ...[...zh, ...en].map(({ src, strength }) => ({ re: new RegExp(`(?:${src})${OPEN}${list}`, "gmu"), strength })),
    // Letter first: "（B错，为本题正确答案）" in "which is wrong" questions, "C为本题答案".
    { re: new RegExp(String.raw`${list}\s*(?:项|选项)?\s*(?:错误|错|对|正确)?\s*[,，]?\s*(?:为|是)本题(?:的)?(?:正确)?答案`, "gu"), strength: 1 },
  ];
}

/** "C项正确", "选项C是正确的", "A、B和E正确", "C当选", "C is correct": letters asserted right. */
function positiveRegexes(cls: string): RegExp[] {
  const list = listPattern(cls);
  return [
    new RegExp(String.raw`(?:选项|option\s*)?${list}\s*[)）]?\s*(?:项|选项)?\s*(?:的说法|说法|的描述|描述|叙述)?\s*(?:是|为|均|都)?\s*(?:正确(?!与否)|对的|当选|符合题意|最佳|最合适|最恰当|最准确|为本题答案|是本题答案|is\s+(?:the\s+)?(?:correct|right|best)|are\s+correct)(?!\s*[吗么?？])`, "gu"),
    // "(C)" after an option text, and CMExam-style "（C对）".
    new RegExp(String.raw`[(（]\s*${list}\s*(?:对|正确|[)）])`, "gu"),
    new RegExp(String.raw`\*\*\s*(?:答案[:：]?\s*)?${list}\s*[.．、:：)]?\s*[^*\n]{0,30}\*\*`, "gu"),
  ];
}

/** "不选A", "排除A、B", "不是A", "A项错误", "A、B、D均错误", "rule out A": letters asserted wrong. */
function negativeRegexes(cls: string): RegExp[] {
  const list = listPattern(cls);
  return [
    new RegExp(String.raw`(?:不选|不应选|不能选|不宜选|排除|除去|去掉|不是|并非|而非|除了?|\b(?:rule\s+out|eliminate|exclude|not)\b)\s*(?:选项|项|option\s*)?${list}(?!\s*(?:项|选项)?\s*(?:以|之)?外)`, "gu"),
    new RegExp(String.raw`(?:选项|option\s*)?${list}\s*(?:项|选项)?\s*(?:均|都|也|的说法|说法|描述|选项)?\s*(?:是|为)?\s*(?:错误|不正确|不对|不符合|不符|不选|排除|可排除|可以排除|被排除|不是正确|不当选|不准确|错|is\s+(?:incorrect|wrong|not\s+correct)|are\s+(?:incorrect|wrong))(?!\s*[,，]?\s*(?:为|是)本题(?:的)?(?:正确)?答案)`, "gu"),
  ];
}

/** Under a negated stem: "C项正确", "A、B均属于" exclude; "D不属于", "E说法有误" choose. */
function stemRegexes(cls: string): { right: RegExp; wrong: RegExp } {
  const list = listPattern(cls);
  const head = String.raw`(?:选项|option\s*)?${list}\s*[)）]?\s*(?:项|选项)?\s*(?:[(（][^)）]{0,40}[)）])?\s*(?:的说法|说法|描述|的叙述|叙述)?\s*(?:均|都|也)?\s*(?:是|为)?\s*`;
  return {
    right: new RegExp(String.raw`${head}(?:正确|对的|属于|符合(?!题意)|is\s+(?:correct|right|true))(?!与否)`, "gu"),
    wrong: new RegExp(String.raw`${head}(?:错误|错的|不正确|不对|不符合|不符|不属于|不是|不包括|有误|不准确|不恰当|不宜|不能|is\s+(?:incorrect|wrong|false|not\s+correct))`, "gu"),
  };
}

// The first verdict word in an option's segment decides (negative forms listed first so "不正确" is negative).
// Groups: 1 choice-level no, 2 statement wrong, 3 choice-level yes, 4 statement right. Under a negated stem a
// wrong statement is the choice and a right one is not.
const VERDICT = /(排除|不选|不当选)|(错误|不正确|不对|不符合|不符|不是正确|不准确|不属于|无关|incorrect|wrong)|((?:是|为)(?:本题的?)?正确答案|当选|符合题意|为本题答案)|(正确|correct)/i;

/**
 * Per-option analysis ("A项……错误。B项……正确"): segment the text at item markers and read each segment's
 * verdict word. Returns letters judged chosen and letters judged not chosen.
 */
export function verdicts(text: string, cls: string, letters: ReadonlySet<string>, negatedStem = false): { pos: Set<string>; neg: Set<string> } {
  const pos = new Set<string>();
  const neg = new Set<string>();
  const marker = new RegExp(String.raw`(?:选项\s*(${cls})(?![A-Za-z0-9])|(?<![A-Za-z0-9])(${cls})\s*(?:项|选项)|(?:^|\n)\s*(${cls})\s*[.．、:：)](?!\s*${cls}(?![A-Za-z0-9])))`, "gu");
  const marks = [...text.matchAll(marker)];
  marks.forEach((m, k) => {
    const letter = m[1] ?? m[2] ?? m[3]!;
    if (!letters.has(letter)) return;
    const start = m.index! + m[0].length;
    const end = k + 1 < marks.length ? marks[k + 1]!.index! : text.length;
    let seg = text.slice(start, end);
    const stop = seg.search(/[。；;！!\n]/);
    if (stop >= 0) seg = seg.slice(0, stop + 1);
    const v = VERDICT.exec(seg.replace(/(?<![是为])(?:正确答案|正确选项)/g, (w) => "＿".repeat(w.length)));
    if (v?.[1]) neg.add(letter);
    else if (v?.[2]) (negatedStem ? pos : neg).add(letter);
    else if (v?.[3]) pos.add(letter);
    else if (v?.[4]) (negatedStem ? neg : pos).add(letter);
  });
  return { pos, neg };
}

/** Regexes depend only on the option letters: build them once per letter set. */
const regexCache = new Map<string, { anchors: { re: RegExp; strength: number }[]; positives: RegExp[]; negatives: RegExp[]; stem: { right: RegExp; wrong: RegExp } }>();
export function regexesFor(cls: string) {
  let r = regexCache.get(cls);
  if (!r) regexCache.set(cls, (r = { anchors: anchorRegexes(cls), positives: positiveRegexes(cls), negatives: negativeRegexes(cls), stem: stemRegexes(cls) }));
  return r;
}

export function collect(re: RegExp, text: string, letters: ReadonlySet<string>): Hit[] {
  const hits: Hit[] = [];
  for (const m of text.matchAll(re)) {
    const l = lettersIn(m[1] ?? "", letters);
    if (l.length) hits.push({ index: m.index!, end: m.index! + m[0].length, letters: l, strength: 1 });
  }
  return hits;
}

/** Escape a string for use inside a RegExp. */
function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Options whose text occurs in `scope`, preferring the most specific: an option whose text lies inside a
 * longer matching option's occurrence is not counted ("肝阳上亢" inside "肝阳上亢证"). Occurrences right after a
 * negation ("不是肝阳上亢") do not count.
 */
export function contentMatches(scope: string, options: ChoiceOptions, stem = ""): string[] {
  const found: { letter: string; start: number; end: number }[] = [];
  for (const [letter, raw] of Object.entries(options)) {
    if (raw === undefined) continue;
    const t = raw.normalize("NFKC").trim().replace(/[。.]$/, "");
    if (t.length < 2) continue;
    for (const m of scope.matchAll(new RegExp(esc(t), "g"))) {
      const before = scope.slice(Math.max(0, m.index! - 4), m.index!);
      if (/(?:不是|并非|而非|排除|不选|除了?|not)\s*$/.test(before)) continue;
      if (insideStem(scope, m.index!, t.length, stem)) continue;
      found.push({ letter, start: m.index!, end: m.index! + t.length });
    }
  }
  const kept = found.filter((f) => !found.some((g) => g !== f && g.end - g.start > f.end - f.start && g.start <= f.start && g.end >= f.end));
  return Array.from(new Set(kept.map((f) => f.letter))).sort();
}


// Words that make a concluding sentence a hedge or a question rather than a verdict.
export const HEDGE = /[吗么?？]|不确定|无法确定|难以确定|不能确定|无法判断|需要更多|都有可能|是否|需要结合|需结合|以上(?:选项)?(?:都|均)(?:不|非)|没有正确|无正确|\bnot sure\b|\bcannot\b/iu;
// A concluding sentence that declares something wrong / excluded, and one that declares something right.
export const SAYS_WRONG = /错|不正确|不对|不符合|不符|不属于|不是|不包括|有误|不准确|不恰当|不宜|除外|排除|不选|不能选|incorrect|wrong/iu;
export const SAYS_RIGHT = /正确|(?<![不相])对(?!于|照|应|比|待|称|症|抗|立|侧|象)|(?<!不)属于/u;
export const DISCLAIMER =
  /(?:[\s(（]*(?:以上|上述|本)?(?:分析|回答|内容|解答|解析|答案|意见|信息)?(?:仅供参考|请以教材为准|以教材为准)[^。！？!?\n]{0,20}[。！.!)）]*|[\s(（]*(?:如有(?:疑问|不适)[，,]?)?请?(?:咨询|遵)(?:专业)?(?:医生|医师|医嘱)[^。！？!?\n]{0,10}[。！.!)）]*)+$/u;
// What makes a sentence concluding. The last such sentence is the answer's verdict.
export const CONCLUDING = new RegExp(
  String.raw`${CONCLUSION}|答案|答[:：]|应选|应该选|选择(?!性)|故选|当选|最符合|最合适|最佳|最恰当|最可能|最为(?:恰当|合适|符合|准确|可能)|更(?:符合|合适|恰当|准确|可能|为合适)|首选|结论|即选项|即为|只有.{0,6}(?:选项|项)|唯一|治法为|治法是|诊断为|考虑为|的(?:是|为)|${ci("answer")}|${ci("choose")}`,
  "u",
);
// Cues strong enough to conclude even when more than two sentences follow ("需要注意的是……" paragraphs).
export const STRONG_CUE = /答案|应选|故选|本题选|正确选项|最终选择|(?:我|我们)(?:选择|选)/u;
// A concluding sentence states an option's content as the answer only with one of these (所以也不会形成肿瘤 does not).
export const CONTENT_CUE = /答案|应选|应该选|(?:应|故|我|可|则|本题|我们)选择|选择(?:答案|选项)|故选|首选|最符合|最合适|最佳|最恰当|最可能|最为(?:恰当|合适|符合|准确|可能)|更(?:符合|合适|恰当|准确|为合适)|结论|治法(?:为|是)|诊断(?:为|是)|考虑(?:为|是)?|的(?:是|为)|应为|\banswer\b/iu;
// A sentence that opens with an option marker ("E项，……", "B选项：") analyses that option; it is no verdict.
export const OPTION_LINE = /^\s*[*#>-]*\s*(?:选项)?\s*[A-J]\s*(?:项|选项|[.．、:：,，)）])/u;
// Someone else's (or a hypothetical) choice, not the answer's: 有人可能会选E, 如果选A, 误以为答案是A.
export const HYPOTHETICAL = /(?:有人|如果|假如|若|误以为|以为|也许|或许|可能会|容易|易误)[^，,。；;\n]{0,8}$/u;

/** Sentence spans of `text` (split after 。！？；, newlines), as [start, end) offsets. */
export function sentences(text: string): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (const m of text.matchAll(/[。！!？?；;\n]+|\.(?=\s|$)/gu)) {
    const end = m.index! + m[0].length;
    if (text.slice(start, end).trim()) out.push([start, end]);
    start = end;
  }
  if (text.slice(start).trim()) out.push([start, text.length]);
  return out;
}
