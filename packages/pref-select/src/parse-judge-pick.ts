/** A judge's verdict read from its text: the displayed position it picked, or why none could be read. */
export type JudgePick = { ok: true; position: number; label: string } | { ok: false; reason: string };

const FULLWIDTH = /[Ａ-Ｚ［］（）]/g;
function halfWidth(s: string): string {
  return s.replace(FULLWIDTH, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/【/g, "[").replace(/】/g, "]");
}

const BRACKETED = /\[\[\s*([A-Za-z])\s*\]\]/g;
const ALONE = /^(?:(?:the\s+)?(?:best\s+)?(?:response|answer|option|candidate|回答|答案|选项|候选)\s*[:：]?\s*)?[([{"“'「]?\s*([A-Z])\s*[)\]}"”'」]?\s*[.。!！]?$/i;
const VERDICT =
  /(?:best|better|preferred|prefer|winner|verdict|final answer|choose|choice|pick|select|最佳|最好|更好|最优|更优|胜出|选择|结论|答案)\s*(?:(?:response|answer|option|candidate|one|is|would be|was|the|回答|答案|选项|候选|的|是|为|应该是|应为)\s*[:：]?\s*)*[:：]?\s*[([{"“'「]?\s*([A-Za-z])(?![A-Za-z])/gi;

/**
 * Read a judge's pick from its output, for `n` candidates labelled A, B, …
 *
 * In order: (1) the last `[[X]]` (the format the default prompt asks for; full-width letters and 【】 are
 * accepted); (2) an output that is only a label ("B", "回答B", "(B)."); (3) the last verdict phrase such as
 * "best response is B" or "最佳回答是B". Reasoning inside `<think>…</think>` is ignored. Lower-case letters
 * count only inside `[[x]]`, so articles ("a") are never read as labels.
 */
export function parseJudgePick(params: { text: string; n: number }): JudgePick {
  const { n } = params;
  const text = halfWidth(params.text.replace(/<think>[\s\S]*?<\/think>/g, "")).trim();
  if (!text) return { ok: false, reason: "empty judge output" };
  let label: string | undefined;
  const bracketed = [...text.matchAll(BRACKETED)];
  if (bracketed.length) label = bracketed[bracketed.length - 1]![1]!.toUpperCase();
  if (!label) label = ALONE.exec(text)?.[1];
  if (!label) {
    const verdicts = [...text.matchAll(VERDICT)].map((m) => m[1]!).filter((c) => c >= "A" && c <= "Z");
    label = verdicts[verdicts.length - 1];
  }
  if (!label || label < "A" || label > "Z") return { ok: false, reason: "no verdict found in judge output" };
  const position = label.charCodeAt(0) - 65;
  if (position >= n) return { ok: false, reason: `verdict ${label} is not one of the ${n} candidates` };
  return { ok: true, position, label };
}
