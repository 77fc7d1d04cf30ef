import { evaluateCompare, evaluateJudge, type JudgeManyOptions } from "@sfmed/eval-metrics";
import type { ReferenceQA } from "@sfmed/schema";
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { enumFlag, intFlag, LIMITS, numberFlag } from "../flags.js";
import type { createProgress } from "../progress.js";
import { guardReport, judgeFlags, judgeOptions, readAll, readPredictions, requireMatches, rougeOptions, writeReport, type JudgeFlags } from "./eval-helpers.js";

async function judge(c: CliContext, o: JudgeFlags & { refs: string; pred: string[] }): Promise<void> {
  const started = Date.now();
  await guardReport(o.out, "judge", { "--refs": o.refs, "--pred": o.pred });
  const refs: ReferenceQA[] = await readAll(o.refs, "qa");
  const predictions = await readPredictions(o.pred);
  requireMatches(predictions, refs, o.pred, o.allowEmpty);
  const { bar, ...opts } = await judgeOptions(o, c, "judge");
  const { report, judgments } = await evaluateJudge(refs, predictions, opts).finally(() => bar.stop());
  const failed = judgments.filter((j) => !j.ok).length;
  if (failed) c.info(`eval judge: ${failed} judgment(s) unparsable after retries; left out of the means and listed in judge-items.jsonl`);
  await writeReport(c, o.out, "judge", report, { inputs: [o.refs, ...o.pred], params: { judge: o.model, rubric: report.rubric, retries: opts.retries }, items: judgments, started });
}

export function registerJudge(ev: Command, ctx: () => CliContext): void {
  judgeFlags(
    ev
      .command("judge")
      .description("judge scores: each answer graded on its own against the reference by an LLM")
      .requiredOption("--refs <file>", "reference answers (ReferenceQA records)")
      .requiredOption("--pred <files...>", "predictions (Prediction records; several models allowed)")
      .requiredOption("-o, --out <dir>", "output directory"),
  ).action((o: JudgeFlags & { refs: string; pred: string[] }) => judge(ctx(), o));
}

type CompareFlags = JudgeFlags & { refs: string; a: string; b: string[]; metric: string; tokenizer: string; tieEpsilon?: string; seed: string; resamples: string; cells: string };

async function compare(c: CliContext, o: CompareFlags): Promise<void> {
  const started = Date.now();
  const metric = enumFlag("metric", o.metric, ["rouge-l", "judge"] as const, { expected: "rouge-l or judge" });
  const cells = enumFlag("cells", o.cells, ["percent", "paper"] as const, { expected: "percent or paper" });
  const tieEpsilon = numberFlag("tie-epsilon", o.tieEpsilon, { min: 0 });
  const wtl = { ...(tieEpsilon !== undefined ? { tieEpsilon } : {}), seed: intFlag("seed", o.seed, { min: 0 }), resamples: intFlag("resamples", o.resamples, { min: 1, max: LIMITS.resamples }) };
  await guardReport(o.out, "compare", { "--refs": o.refs, "--a": o.a, "--b": o.b });
  const refs: ReferenceQA[] = await readAll(o.refs, "qa");
  let bar: ReturnType<typeof createProgress> | undefined;
  let judge: JudgeManyOptions | undefined;
  if (metric === "judge") ({ bar, ...judge } = await judgeOptions(o, c, "compare"));
  const predictionsA = await readPredictions([o.a]);
  requireMatches(predictionsA, refs, [o.a], o.allowEmpty);
  const options = { ...wtl, metric, rouge: rougeOptions({ tokenizer: o.tokenizer }), ...(judge ? { judge } : {}) };
  const { report, items } = await evaluateCompare(refs, predictionsA, await readPredictions(o.b), options).finally(() => bar?.stop());
  const markdown = cells === "paper" ? { cells: { digits: 3 } } : {};
  await writeReport(c, o.out, "compare", report, { inputs: [o.refs, o.a, ...o.b], params: { metric: report.metric, ...wtl, cells }, items, started, markdown });
}

export function registerCompare(ev: Command, ctx: () => CliContext): void {
  judgeFlags(
    ev
      .command("compare")
      .description("win/tie/loss of model A against each baseline, by ROUGE-L or judge score, with bootstrap CIs and a sign test")
      .requiredOption("--refs <file>", "reference answers (ReferenceQA records)")
      .requiredOption("--a <file>", "predictions of the system under test (one model)")
      .requiredOption("--b <files...>", "baseline predictions (one or more models)")
      .requiredOption("-o, --out <dir>", "output directory")
      .option("--metric <name>", "rouge-l or judge", "rouge-l")
      .option("--tokenizer <name>", "rouge-l: char, jieba or whitespace", "char")
      .option("--tie-epsilon <x>", "score differences up to this count as ties (default 1e-12 for rouge-l, 0 for judge)")
      .option("--seed <n>", "bootstrap seed", "0")
      .option("--resamples <n>", "bootstrap resamples", "2000")
      .option("--cells <style>", "win/tie/loss cells in the Markdown table: percent (75.4/0.0/24.6) or paper (0.754/0.000/0.246, as the paper's tables)", "percent"),
  ).action((o: CompareFlags) => compare(ctx(), o));
}
