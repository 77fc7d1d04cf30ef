import path from "node:path";
import {
  CHOICE_EXTRACTOR_MODES,
  cmbClinRubric,
  decideChoices,
  decisionLookup,
  evaluateChoices,
  evaluateCompare,
  evaluateJudge,
  evaluateRouge,
  overallRubric,
  renderHtml,
  renderMarkdown,
  type ChoiceExtractorMode,
  type EvalReport,
  type JudgeManyOptions,
  type RenderMarkdownOptions,
  type RougeBatchOptions,
} from "@sfmed/eval-metrics";
import { atomicWrite, hashFile, readRecords, recordsOnly, writeRecords, type ChoiceQuestion, type Prediction, type ReferenceQA, type RecordKind, type RecordOf } from "@sfmed/schema";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { intFlag, LIMITS } from "../flags.js";
import { guardOutputs, requireNonEmpty } from "./io-helpers.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";

async function readAll<K extends RecordKind>(file: string, kind: K): Promise<RecordOf<K>[]> {
  const out: RecordOf<K>[] = [];
  for await (const r of recordsOnly(readRecords(file, { kind }))) out.push(r);
  return out;
}

async function readPredictions(files: string[]): Promise<Prediction[]> {
  return (await Promise.all(files.map((f) => readAll(f, "prediction")))).flat();
}

/** Check the files {@link writeReport} will write against the inputs (exit 2 on a collision) before any work. */
async function guardReport(out: string, name: string, inputs: Record<string, string | string[] | undefined>): Promise<void> {
  const files = [`${name}.json`, `${name}.md`, `${name}.html`, `${name}-items.jsonl`].map((f) => path.join(out, f));
  await guardOutputs({ inputs, outputs: Object.fromEntries(files.map((f) => [`-o (${path.basename(f)})`, f])) });
}

/** With no prediction for any question, every score is empty: exit 1 unless --allow-empty. */
function requireMatches(predictions: ReadonlyArray<{ id: string }>, questions: ReadonlyArray<{ id: string }>, files: string[], allowEmpty: boolean | undefined): void {
  const ids = new Set(questions.map((q) => q.id));
  const matched = predictions.filter((p) => ids.has(p.id)).length;
  requireNonEmpty(matched, `no prediction in ${files.join(", ")} matches a question id (${questions.length} questions, ${predictions.length} predictions)`, allowEmpty);
}

/** Write `<out>/<name>.json|.md|.html` (+ per-item JSONL) atomically and print the Markdown table. */
async function writeReport(c: CliContext, out: string, name: string, report: EvalReport, extra: { inputs: string[]; params: Record<string, unknown>; items: unknown[]; started: number; markdown?: RenderMarkdownOptions }) {
  const inputs = await Promise.all(extra.inputs.map(async (f) => ({ file: f, sha256: await hashFile(f) })));
  const json = { report, params: extra.params, inputs, seconds: (Date.now() - extra.started) / 1000, createdAt: new Date().toISOString() };
  const md = renderMarkdown(report, extra.markdown);
  await atomicWrite(path.join(out, `${name}.json`), [JSON.stringify(json, null, 2) + "\n"]);
  await atomicWrite(path.join(out, `${name}.md`), [md]);
  await atomicWrite(path.join(out, `${name}.html`), [renderHtml(report, { title: `sfmed eval ${name}` })]);
  await writeRecords(path.join(out, `${name}-items.jsonl`), extra.items);
  c.stdout.write(md);
  c.info(`eval ${name}: ${path.join(out, name)}.{json,md,html} and ${name}-items.jsonl`);
}

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

function rougeOptions(o: { tokenizer?: string; compat?: string; threads?: string }): RougeBatchOptions {
  if (o.tokenizer && !["char", "jieba", "whitespace"].includes(o.tokenizer)) throw new UsageError(`--tokenizer must be char, jieba or whitespace, got "${o.tokenizer}"`);
  if (o.compat && !["rouge-score", "rouge-chinese"].includes(o.compat)) throw new UsageError(`--compat must be rouge-score or rouge-chinese, got "${o.compat}"`);
  const threads = int("threads", o.threads, 1);
  return {
    ...(o.tokenizer ? { tokenizer: o.tokenizer as "char" | "jieba" | "whitespace" } : {}),
    ...(o.compat ? { compat: o.compat as "rouge-score" | "rouge-chinese" } : {}),
    ...(threads ? { threads } : {}),
    // Score empty answers 0 even under rouge-chinese: a model that says nothing loses, the run goes on.
    empty: "zero",
  };
}

interface JudgeFlags {
  baseUrl?: string;
  model?: string;
  apiKeyEnv: string;
  rubric: string;
  scale: string;
  retries: string;
  concurrency: string;
  cache?: string | false;
  out: string;
  allowEmpty?: boolean;
}

// @sfmed/llm (and openai under it) is imported only on the judge paths: ROUGE-L runs never pay its load time.
async function judgeOptions(o: JudgeFlags, c: CliContext, label: string): Promise<JudgeManyOptions & { bar: ReturnType<typeof createProgress> }> {
  if (!o.baseUrl || !o.model) throw new UsageError("the judge needs --base-url and --model");
  const scale = /^(\d+)-(\d+)$/.exec(o.scale);
  if (!scale || Number(scale[1]) >= Number(scale[2])) throw new UsageError(`--scale must look like 1-10, got "${o.scale}"`);
  const rubric = o.rubric === "overall" ? overallRubric({ min: Number(scale[1]), max: Number(scale[2]) }) : o.rubric === "cmb-clin" ? cmbClinRubric() : undefined;
  if (!rubric) throw new UsageError(`--rubric must be overall or cmb-clin, got "${o.rubric}"`);
  // The on-disk response cache makes an interrupted run resume where it stopped (same prompts, same answers).
  const cacheDir = o.cache === false ? undefined : typeof o.cache === "string" ? o.cache : path.join(o.out, ".judge-cache");
  const { createOpenAIModel } = await import("@sfmed/llm");
  const model = createOpenAIModel({ baseURL: o.baseUrl, model: o.model, apiKey: process.env[o.apiKeyEnv], cacheDir });
  const bar = createProgress({ label, unit: "ans", quiet: c.quiet });
  return { model, rubric, retries: int("retries", o.retries, 0)!, concurrency: int("concurrency", o.concurrency, 1)!, onProgress: (d, t) => (bar.setTotal(t), bar.update(d)), bar };
}

function judgeFlags(cmd: Command): Command {
  return cmd
    .option("--base-url <url>", "judge: OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    .option("--model <name>", "judge: model name")
    .option("--api-key-env <name>", "judge: environment variable holding the API key", "OPENAI_API_KEY")
    .option("--rubric <name>", "judge: overall or cmb-clin (four 1–5 dimensions)", "overall")
    .option("--scale <min-max>", "judge: score range of the overall rubric", "1-10")
    .option("--retries <n>", "judge: extra calls after an unparsable judgment", "2")
    .option("--concurrency <n>", "judge: calls in flight", "4")
    .option("--cache <dir>", "judge: response cache directory (default <out>/.judge-cache; reruns resume from it)")
    .option("--allow-empty", "succeed even when no prediction matches a reference id")
    .option("--no-cache", "judge: no response cache");
}

export const register: Register = (program, ctx) => {
  const ev = program.command("eval").description("evaluate predictions: ROUGE-L, multiple-choice accuracy, judge scores, win/tie/loss");

  ev.command("rouge")
    .description("ROUGE-L of each model's predictions against the reference answers")
    .requiredOption("--refs <file>", "reference answers (ReferenceQA records)")
    .requiredOption("--pred <files...>", "predictions (Prediction records; several models allowed)")
    .requiredOption("-o, --out <dir>", "output directory")
    .option("--tokenizer <name>", "char (code points), jieba or whitespace (default: char; jieba under --compat rouge-chinese)")
    .option("--compat <name>", "rouge-score (F = 2PR/(P+R)) or rouge-chinese (jieba words, 1e-8 epsilon)")
    .option("--threads <n>", "worker threads for the LCS kernel")
    .option("--allow-empty", "succeed even when no prediction matches a reference id")
    .action(async (o: { refs: string; pred: string[]; out: string; tokenizer?: string; compat?: string; threads?: string; allowEmpty?: boolean }) => {
      const c = ctx();
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
    });

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
    .action(async (o: { questions: string; pred: string[]; out: string; answeredOnly?: boolean; allowEmpty?: boolean; extractor: string; baseUrl?: string; model?: string; apiKeyEnv: string; cache?: string; concurrency: string }) => {
      const c = ctx();
      const started = Date.now();
      const mode = o.extractor as ChoiceExtractorMode;
      if (!CHOICE_EXTRACTOR_MODES.includes(mode)) throw new UsageError(`--extractor must be ${CHOICE_EXTRACTOR_MODES.join(", ")}, got "${o.extractor}"`);
      if (mode !== "rules" && (!o.baseUrl || !o.model)) throw new UsageError(`--extractor ${mode} needs --base-url and --model`);
      const concurrency = int("concurrency", o.concurrency, 1)!;
      await guardReport(o.out, "mc", { "--questions": o.questions, "--pred": o.pred });
      const predictions = await readPredictions(o.pred);
      let questions: ChoiceQuestion[] = await readAll(o.questions, "choice");
      requireMatches(predictions, questions, o.pred, o.allowEmpty);
      if (o.answeredOnly) {
        const ids = new Set(predictions.map((p) => p.id));
        questions = questions.filter((q) => ids.has(q.id));
      }
      let decide: ReturnType<typeof decisionLookup> | undefined;
      if (mode !== "rules") {
        // Each item's `rule` records the path: a rule name, "llm", or "llm-unreadable" (counted as abstaining).
        const { createOpenAIModel } = await import("@sfmed/llm");
        const model = createOpenAIModel({ baseURL: o.baseUrl!, model: o.model!, apiKey: process.env[o.apiKeyEnv], cacheDir: o.cache ?? path.join(o.out, ".extract-cache") });
        const bar = createProgress({ label: "extract", unit: "ans", quiet: c.quiet });
        decide = decisionLookup(await decideChoices(questions, predictions, { mode, model, concurrency, onProgress: (d, t) => (bar.setTotal(t), bar.update(d)) }));
        bar.stop();
      }
      const { report, items } = evaluateChoices(questions, predictions, decide ? { decide } : {});
      await writeReport(c, o.out, "mc", report, { inputs: [o.questions, ...o.pred], params: { answeredOnly: Boolean(o.answeredOnly), extractor: mode }, items, started });
    });

  judgeFlags(
    ev
      .command("judge")
      .description("judge scores: each answer graded on its own against the reference by an LLM")
      .requiredOption("--refs <file>", "reference answers (ReferenceQA records)")
      .requiredOption("--pred <files...>", "predictions (Prediction records; several models allowed)")
      .requiredOption("-o, --out <dir>", "output directory"),
  ).action(async (o: JudgeFlags & { refs: string; pred: string[] }) => {
    const c = ctx();
    const started = Date.now();
    await guardReport(o.out, "judge", { "--refs": o.refs, "--pred": o.pred });
    const refs: ReferenceQA[] = await readAll(o.refs, "qa");
    const predictions = await readPredictions(o.pred);
    requireMatches(predictions, refs, o.pred, o.allowEmpty);
    const { bar, ...opts } = await judgeOptions(o, c, "judge");
    const { report, judgments } = await evaluateJudge(refs, predictions, opts);
    bar.stop();
    const failed = judgments.filter((j) => !j.ok).length;
    if (failed) c.info(`eval judge: ${failed} judgment(s) unparsable after retries; left out of the means and listed in judge-items.jsonl`);
    await writeReport(c, o.out, "judge", report, { inputs: [o.refs, ...o.pred], params: { judge: o.model, rubric: report.rubric, retries: opts.retries }, items: judgments, started });
  });

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
  ).action(async (o: JudgeFlags & { refs: string; a: string; b: string[]; metric: string; tokenizer: string; tieEpsilon?: string; seed: string; resamples: string; cells: string }) => {
    const c = ctx();
    const started = Date.now();
    if (o.metric !== "rouge-l" && o.metric !== "judge") throw new UsageError(`--metric must be rouge-l or judge, got "${o.metric}"`);
    if (o.cells !== "percent" && o.cells !== "paper") throw new UsageError(`--cells must be percent or paper, got "${o.cells}"`);
    const tieEpsilon = o.tieEpsilon === undefined ? undefined : Number(o.tieEpsilon);
    if (tieEpsilon !== undefined && !(tieEpsilon >= 0)) throw new UsageError(`--tie-epsilon must be a number ≥ 0, got "${o.tieEpsilon}"`);
    const wtl = { ...(tieEpsilon !== undefined ? { tieEpsilon } : {}), seed: intFlag("seed", o.seed, { min: 0 }), resamples: intFlag("resamples", o.resamples, { min: 1, max: LIMITS.resamples }) };
    await guardReport(o.out, "compare", { "--refs": o.refs, "--a": o.a, "--b": o.b });
    const refs: ReferenceQA[] = await readAll(o.refs, "qa");
    let bar: ReturnType<typeof createProgress> | undefined;
    let judge: JudgeManyOptions | undefined;
    if (o.metric === "judge") ({ bar, ...judge } = await judgeOptions(o, c, "compare"));
    const predictionsA = await readPredictions([o.a]);
    requireMatches(predictionsA, refs, [o.a], o.allowEmpty);
    const { report, items } = await evaluateCompare(refs, predictionsA, await readPredictions(o.b), {
      ...wtl,
      metric: o.metric,
      rouge: rougeOptions({ tokenizer: o.tokenizer }),
      ...(judge ? { judge } : {}),
    });
    bar?.stop();
    const markdown = o.cells === "paper" ? { cells: { digits: 3 } } : {};
    await writeReport(c, o.out, "compare", report, { inputs: [o.refs, o.a, ...o.b], params: { metric: report.metric, ...wtl, cells: o.cells }, items, started, markdown });
  });
};
