import path from "node:path";
import { CHOICE_EXTRACTOR_MODES, decideChoices, decisionLookup, evaluateChoices, evaluateRouge } from "@sfmed/eval-metrics";
import type { ChoiceQuestion, Prediction } from "@sfmed/schema";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, intFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import { registerCompare, registerJudge } from "./eval-judge.js";
import { guardReport, readAll, readPredictions, requireMatches, rougeOptions, writeReport } from "./eval-helpers.js";
import type { Register } from "./index.js";

type RougeFlags = { refs: string; pred: string[]; out: string; tokenizer?: string; compat?: string; threads?: string; allowEmpty?: boolean };

async function rouge(c: CliContext, o: RougeFlags): Promise<void> {
  const started = Date.now();
  const opts = rougeOptions(o);
  await guardReport(o.out, "rouge", { "--refs": o.refs, "--pred": o.pred });
  const refs = await readAll(o.refs, "qa");
  const bar = createProgress({ label: "rouge", unit: "pair", quiet: c.quiet });
  const predictions = await readPredictions(o.pred);
  requireMatches(predictions, refs, o.pred, o.allowEmpty);
  const { report, items } = await evaluateRouge(refs, predictions, { ...opts, onProgress: (d, t) => (bar.setTotal(t), bar.update(d)) });
  bar.stop();
  await writeReport(c, o.out, "rouge", report, { inputs: [o.refs, ...o.pred], params: { tokenizer: report.tokenizer, compat: report.compat }, items, started });
}

type ChoiceFlags = { questions: string; pred: string[]; out: string; answeredOnly?: boolean; allowEmpty?: boolean; extractor: string; baseUrl?: string; model?: string; apiKeyEnv: string; cache?: string; concurrency: string };

/** The LLM extractor's decisions; each item's `rule` records the path: a rule name, "llm", or "llm-unreadable". */
async function llmDecisions(c: CliContext, o: ChoiceFlags, mode: "llm" | "rules+llm", questions: ChoiceQuestion[], predictions: Prediction[], concurrency: number) {
  const { createOpenAIModel } = await import("@sfmed/llm");
  const model = createOpenAIModel({ baseURL: o.baseUrl!, model: o.model!, apiKey: process.env[o.apiKeyEnv], cacheDir: o.cache ?? path.join(o.out, ".extract-cache") });
  const bar = createProgress({ label: "extract", unit: "ans", quiet: c.quiet });
  const decisions = await decideChoices(questions, predictions, { mode, model, concurrency, onProgress: (d, t) => (bar.setTotal(t), bar.update(d)) }).finally(() => bar.stop());
  return decisionLookup(decisions);
}

async function choices(c: CliContext, o: ChoiceFlags): Promise<void> {
  const started = Date.now();
  const mode = enumFlag("extractor", o.extractor, CHOICE_EXTRACTOR_MODES);
  if (mode !== "rules" && (!o.baseUrl || !o.model)) throw new UsageError(`--extractor ${mode} needs --base-url and --model`);
  const concurrency = intFlag("concurrency", o.concurrency, { min: 1 });
  await guardReport(o.out, "mc", { "--questions": o.questions, "--pred": o.pred });
  const predictions = await readPredictions(o.pred);
  let questions: ChoiceQuestion[] = await readAll(o.questions, "choice");
  requireMatches(predictions, questions, o.pred, o.allowEmpty);
  if (o.answeredOnly) {
    const ids = new Set(predictions.map((p) => p.id));
    questions = questions.filter((q) => ids.has(q.id));
  }
  const decide = mode === "rules" ? undefined : await llmDecisions(c, o, mode, questions, predictions, concurrency);
  const { report, items } = evaluateChoices(questions, predictions, decide ? { decide } : {});
  await writeReport(c, o.out, "mc", report, { inputs: [o.questions, ...o.pred], params: { answeredOnly: Boolean(o.answeredOnly), extractor: mode }, items, started });
}

function registerRouge(ev: Command, ctx: () => CliContext): void {
  ev.command("rouge")
    .description("ROUGE-L of each model's predictions against the reference answers")
    .requiredOption("--refs <file>", "reference answers (ReferenceQA records)")
    .requiredOption("--pred <files...>", "predictions (Prediction records; several models allowed)")
    .requiredOption("-o, --out <dir>", "output directory")
    .option("--tokenizer <name>", "char (code points), jieba or whitespace (default: char; jieba under --compat rouge-chinese)")
    .option("--compat <name>", "rouge-score (F = 2PR/(P+R)) or rouge-chinese (jieba words, 1e-8 epsilon)")
    .option("--threads <n>", "threads for ROUGE-L, this one included (default: the cores, at most 8)")
    .option("--allow-empty", "succeed even when no prediction matches a reference id")
    .action((o: RougeFlags) => rouge(ctx(), o));
}

function registerChoices(ev: Command, ctx: () => CliContext): void {
  ev.command("mc")
    .description("multiple-choice accuracy (letters read from free-text answers; abstains instead of guessing)")
    .requiredOption("--questions <file>", "questions (ChoiceQuestion records)")
    .requiredOption("--pred <files...>", "predictions (Prediction records; several models allowed)")
    .requiredOption("-o, --out <dir>", "output directory")
    .option("--answered-only", "score only the questions that have a prediction (a sampled run), not the whole file")
    .option("--allow-empty", "succeed even when no prediction matches a question id")
    .option("--extractor <mode>", "rules, llm (a judge model reads every answer) or rules+llm (the judge reads only what the rules abstain on)", "rules")
    .option("--base-url <url>", "llm extractor: OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    .option("--model <name>", "llm extractor: model name")
    .option("--api-key-env <name>", "llm extractor: environment variable holding the API key", "OPENAI_API_KEY")
    .option("--cache <dir>", "llm extractor: response cache directory (default <out>/.extract-cache)")
    .option("--concurrency <n>", "llm extractor: calls in flight", "4")
    .action((o: ChoiceFlags) => choices(ctx(), o));
}

export const register: Register = (program, ctx) => {
  const ev = program.command("eval").description("evaluate predictions: ROUGE-L, multiple-choice accuracy, judge scores, win/tie/loss");
  registerRouge(ev, ctx);
  registerChoices(ev, ctx);
  registerJudge(ev, ctx);
  registerCompare(ev, ctx);
};
