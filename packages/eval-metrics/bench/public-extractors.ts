/**
 * Re-implementations of published multiple-choice answer extractors, rule for rule, for side-by-side accuracy
 * on our fixture (bench only; see research notes). Each takes the reply, the option map and whether the question
 * is multi-answer, and returns the letters it would score (sorted set; [] when it yields nothing).
 *
 * Python regex semantics carried over: `re.search` finds the first match anywhere; `$` without MULTILINE also
 * matches before a final newline (rare here); `str.isupper()` is true for any cased uppercase character.
 */
import { seededRandom } from "@sfmed/schema";

export type Extractor = (text: string, options: Record<string, string>, multiple: boolean) => string[];

const set = (s: string, letters?: string) => [...new Set(s.split("").filter((c) => (letters ? letters.includes(c) : true)))].sort();
const isUpper = (c: string) => c !== c.toLowerCase() && c === c.toUpperCase();
const keys = (o: Record<string, string>) => Object.keys(o).join("");

/** OpenCompass `first_capital_postprocess`: the first uppercase character of any script. */
export const ocFirstCapital: Extractor = (text) => {
  for (const c of text) if (isUpper(c)) return [c];
  return [];
};

/** OpenCompass `multiple_select_postprocess`: the sorted set of every uppercase character. */
export const ocMultipleSelect: Extractor = (text) => [...new Set(Array.from(text).filter(isUpper))].sort();

/** OpenCompass `first_option_postprocess(text, options, cushion=True)` (text_postprocessors.py). */
export const ocFirstOption: Extractor = (text, options) => {
  const o = keys(options);
  const P = [
    `答案是?\\s?([${o}])`, `答案是?\\s?：([${o}])`, `答案是?\\s?:([${o}])`, `答案应该?是\\s?([${o}])`, `答案应该?选\\s?([${o}])`,
    `答案为\\s?([${o}])`, `答案选\\s?([${o}])`, `选择?\\s?([${o}])`, `只有选?项?\\s?([${o}])\\s?是?对`, `只有选?项?\\s?([${o}])\\s?是?错`,
    `只有选?项?\\s?([${o}])\\s?不?正确`, `只有选?项?\\s?([${o}])\\s?错误`, `说法不?对选?项?的?是\\s?([${o}])`, `说法不?正确选?项?的?是\\s?([${o}])`,
    `说法错误选?项?的?是\\s?([${o}])`, `([${o}])\\s?是正确的`, `([${o}])\\s?是正确答案`, `选项\\s?([${o}])\\s?正确`, `所以答\\s?([${o}])`,
    `1.\\s?([${o}])[.。$]?$`, `所以\\s?([${o}][.。$]?$)`, `所有\\s?([${o}][.。$]?$)`, `[\\s，：:,]([${o}])[。，,\\.]?$`,
    `[\\s，,：:][故即]([${o}])[。\\.]?$`, `[\\s，,：:]因此([${o}])[。\\.]?$`, `[是为。]\\s?([${o}])[。\\.]?$`, `因此\\s?([${o}])[。\\.]?$`,
    `显然\\s?([${o}])[。\\.]?$`, `答案是\\s?(\\S+)(?:。|$)`, `答案应该是\\s?(\\S+)(?:。|$)`, `答案为\\s?(\\S+)(?:。|$)`,
    `[Tt]he answer is ([${o}])`, `[Tt]he answer is option ([${o}])`, `[Tt]he correct answer is ([${o}])`,
    `[Tt]he correct answer is option ([${o}])`, `[Tt]he answer to the question is ([${o}])`, `^选项\\s?([${o}])`, `^([${o}])\\s?选?项`,
    `(\\s|^)[${o}][\\s。，,：:\\.$]`, `(\\s|^)[${o}](\\s|$)`, `1.\\s?(.*?)$`,
    // cushion
    `([${o}]):`, `[${o}]`,
  ];
  for (const p of P) {
    const m = new RegExp(p).exec(text);
    if (m) for (const c of o) if (m[0].includes(c)) return [c];
  }
  return [];
};

/** CMMLU `extract_choice` (src/mp_utils.py), option letters generalised from ABCD; random letter as last resort. */
export function cmmluExtract(seed = 0): Extractor {
  const rand = seededRandom(seed);
  return (response, options) => {
    const o = keys(options);
    const L = `[${o}]`;
    if (o.includes(response[0] ?? "\0")) return [response[0]!];
    const single: [string, number][] = [
      [`答案(选项)?(是|为)：? ?(${L})`, 3], [`答案(是|为)选项 ?(${L})`, 2], [`故?选择?：? ?(${L})`, 1], [`(${L}) ?选?项(是|为)?正确`, 1],
      [`正确的?选项(是|为) ?(${L})`, 2], [`答案(应该)?(是|为)(${L})`, 3], [`选项 ?(${L}) ?(是|为)?正确`, 1], [`选择答案 ?(${L})`, 1],
      [`答案?：?(${L})`, 1], [`(${L})(选?项)?是?符合题意`, 1], [`答案选项：? ?(${L})`, 1], [`答案(选项)?为(.*?)(${L})`, 3],
    ];
    for (const [p, g] of single) {
      const m = new RegExp(p, "m").exec(response);
      if (m) return [m[g]!];
    }
    for (const [p, g] of [[`(${L})(.*?)当选`, 1], [`(${L})(.*?)正确`, 1]] as const) {
      const re = new RegExp(p, "m");
      let m = re.exec(response);
      if (m) {
        let answer = m[g]!;
        while (m) {
          answer = m[g]!;
          m = re.exec(m[0].slice(1));
        }
        return [answer];
      }
    }
    const weak = new RegExp(`[^不]是：? ?(${L})`, "m").exec(response);
    if (weak) return [weak[1]!];
    const only = new RegExp(`^[^${o}]*(${L})[^${o}]*$`).exec(response);
    if (only) return [only[1]!];
    return [o[Math.floor(rand() * o.length)]!];
  };
}

/** C-Eval `extract_ans` (evaluators/chatgpt.py), zero-shot answer-only mode: the last element of the first hit list. */
export const cevalExtract: Extractor = (response, options) => {
  const o = keys(options);
  const L = `([${o}])`;
  const patterns = [
    `^选${L}`, `^选项${L}`, `答案是\\s?选?项?\\s?${L}`, `答案为\\s?选?项?\\s?${L}`, `答案应为\\s?选?项?\\s?${L}`, `答案选\\s?选?项?\\s?${L}`,
    `答案是:\\s?选?项?\\s?${L}`, `答案应该是:\\s?选?项?\\s?${L}`, `正确的一项是\\s?${L}`, `答案为:\\s?选?项?\\s?${L}`, `答案应为:\\s?选?项?\\s?${L}`,
    `答案:\\s?选?项?\\s?${L}`, `答案是：\\s?选?项?\\s?${L}`, `答案应该是：\\s?选?项?\\s?${L}`, `答案为：\\s?选?项?\\s?${L}`, `答案应为：\\s?选?项?\\s?${L}`,
    `答案：\\s?选?项?\\s?${L}`,
  ];
  const r = response.trim();
  let ans: string[] = [];
  if (r && o.includes(r[0]!)) ans.push(r[0]!);
  for (const p of patterns) {
    if (ans.length) break;
    ans = [...r.matchAll(new RegExp(p, "g"))].map((m) => m[1]!);
  }
  return ans.length ? [ans.at(-1)!] : [];
};

/** CMB `match_choice` (src/utils.py): letters after 答案/正确选项 up to 。/./end, else every A–G letter in the text. */
export const cmbMatchChoice: Extractor = (text, _options, multiple) => {
  const m = /(答案|正确选项)(?:是|：|为|应该是|应该为)([\s\S]*?)(。|\.|$)/.exec(text);
  const raw = (m ? m[2]! : text).split("").filter((c) => "ABCDEFG".includes(c)).join("");
  if (!raw) return [];
  // score.py compares strings: out-of-order or repeated letters are wrong, which the set below cannot show, so
  // keep order/duplicates visible by returning them as-is when they differ from the sorted set.
  const out = multiple ? raw : raw[0]!;
  const s = set(out);
  return s.join("") === out ? s : [out];
};

/** HuatuoGPT-II `match_choice3` + `test_choice`: forced "B" when nothing matched, first letter for single-answer gold. */
export const huatuoMatchChoice3: Extractor = (text, options, multiple) => {
  const option = ["A", "B", "C", "D", "E"];
  let ans = "";
  const res = /答案(?:是|为)([\s\S]*?)(。|$)/.exec(text);
  if (res) {
    let idx = -1;
    for (const x of res[1]!.split("").filter((c) => option.includes(c))) {
      if (ans.includes(x) || option.indexOf(x) < idx) continue;
      idx = option.indexOf(x);
      ans += x;
    }
  }
  if (!ans) {
    const found: [string, number][] = [];
    for (const [k, v] of Object.entries(options)) if (v.length > 0 && text.includes(v)) found.push([k, text.indexOf(v)]);
    found.sort((a, b) => a[1] - b[1]);
    const byContent = found.map((f) => f[0]).join("");
    if (byContent && byContent === byContent.split("").sort().join("")) ans = byContent;
    else {
      for (const m of text.matchAll(/(?<![A-Za-z])[A-E]+(?![A-Za-z])/g)) {
        const ma = m[0];
        if (new Set(ma).size === ma.length && ma === ma.split("").sort().join("")) {
          ans = ma;
          break;
        }
      }
    }
  }
  if (!ans) ans = "B";
  if (!multiple) ans = ans[0]!;
  return set(ans);
};

/** CMExam LoRA `parse_options`: first line when "解释" occurs; every option whose letter or text is a substring. */
export const cmexamParseOptions: Extractor = (text, options) => {
  const scope = text.includes("解释") ? text.split("\n")[0]! : text;
  const out = Object.entries(options)
    .filter(([k, v]) => scope.includes(k) || (v && scope.includes(v)))
    .map(([k]) => k);
  return out.sort();
};

export const publicExtractors: [string, Extractor][] = [
  ["OpenCompass first_option_postprocess", ocFirstOption],
  ["OpenCompass first_capital_postprocess", ocFirstCapital],
  ["OpenCompass multiple_select_postprocess", ocMultipleSelect],
  ["CMMLU extract_choice (random fallback)", cmmluExtract(0)],
  ["C-Eval extract_ans", cevalExtract],
  ["CMB match_choice", cmbMatchChoice],
  ["HuatuoGPT-II match_choice3", huatuoMatchChoice3],
  ["CMExam parse_options", cmexamParseOptions],
];
