import type { ChoiceReport, CompareReport, EvalReport, JudgeReport, RougeReport } from "./report-types.js";
import { formatWinTieLoss, type FormatWinTieLossOptions } from "./win-tie-loss.js";

export interface RenderMarkdownOptions {
  /** Win/tie/loss cells: the paper's fractions (`{ digits: 3 }` → `0.754/0.000/0.246`). @default percentages, one decimal */
  cells?: FormatWinTieLossOptions;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const row = (xs: (string | number)[]) => `| ${xs.map((x) => cell(String(x))).join(" | ")} |`;
const rule = (n: number) => `|${Array.from({ length: n }, () => "---").join("|")}|`;
/** A number for a table cell; a mean over nothing (every judgment failed) is "–", never "NaN". */
const fixed = (v: number | undefined, digits: number) => (v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : "–");
const x100 = (v: number, digits = 2) => fixed(100 * v, digits);

function rouge(r: RougeReport): string {
  const head = ["Model", "ROUGE-L (F)", "P", "R", "n"];
  return [
    `ROUGE-L ×100, tokens: ${r.tokenizer}, convention: ${r.compat}`,
    "",
    row(head),
    rule(head.length),
    ...r.systems.map((s) => row([s.model, x100(s.f), x100(s.precision), x100(s.recall), s.missing ? `${s.n} (${s.missing} missing)` : s.n])),
  ].join("\n");
}

function mc(r: ChoiceReport): string {
  const subjects = [...new Set(r.systems.flatMap((s) => Object.keys(s.bySubject)))].sort();
  const sources = [...new Set(r.systems.flatMap((s) => Object.keys(s.bySource)))].sort();
  const head = ["Model", "Accuracy", ...sources, ...subjects.map((s) => (sources.includes(s) ? `${s} (subject)` : s)), "Abstained", "n"];
  return [
    "Accuracy ×100 (abstentions count as wrong)",
    "",
    row(head),
    rule(head.length),
    ...r.systems.map((s) =>
      row([
        s.model,
        x100(s.accuracy, 1),
        ...sources.map((k) => (s.bySource[k] ? x100(s.bySource[k].accuracy, 1) : "–")),
        ...subjects.map((k) => (s.bySubject[k] ? x100(s.bySubject[k].accuracy, 1) : "–")),
        x100(s.abstentionRate, 1),
        s.n,
      ]),
    ),
  ].join("\n");
}

function judge(r: JudgeReport): string {
  const dims = [...new Set(r.systems.flatMap((s) => Object.keys(s.dimensions)))];
  const head = ["Model", "Mean score", ...(dims.length > 1 ? dims : []), "Unparsable", "n"];
  return [
    `Judge: ${r.judge}, rubric: ${r.rubric}`,
    "",
    row(head),
    rule(head.length),
    ...r.systems.map((s) => row([s.model, fixed(s.mean, 2), ...(dims.length > 1 ? dims.map((d) => fixed(s.dimensions[d], 2)) : []), s.failed, s.n])),
  ].join("\n");
}

function compare(r: CompareReport, cells: FormatWinTieLossOptions | undefined): string {
  const percent = cells === undefined || cells.percent === true;
  const head = ["Model", "vs", percent ? "Win/Tie/Loss (%)" : "Win/Tie/Loss", "Win 95% CI", "Loss 95% CI", "Sign test p", "n"];
  const ci = (iv: [number, number]) => `${x100(iv[0], 1)}–${x100(iv[1], 1)}`;
  return [
    `Win/tie/loss by ${r.metric}`,
    "",
    row(head),
    rule(head.length),
    ...r.comparisons.map((c) =>
      row([
        c.a,
        c.b,
        cells ? formatWinTieLoss(c.result, cells) : c.result.formatted,
        ci(c.result.ci.win),
        ci(c.result.ci.loss),
        c.result.signTestP < 1e-4 ? c.result.signTestP.toExponential(1) : c.result.signTestP.toFixed(4),
        c.result.dropped ? `${c.result.n} (${c.result.dropped} dropped)` : c.result.n,
      ]),
    ),
  ].join("\n");
}

/** The report as a Markdown table (×100 scores; `win/tie/loss` cells as percentages, or as the paper prints them with `cells`). */
export function renderMarkdown(report: EvalReport, options: RenderMarkdownOptions = {}): string {
  switch (report.kind) {
    case "rouge":
      return rouge(report) + "\n";
    case "mc":
      return mc(report) + "\n";
    case "judge":
      return judge(report) + "\n";
    case "compare":
      return compare(report, options.cells) + "\n";
  }
}
