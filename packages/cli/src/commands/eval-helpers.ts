// What the `sfmed eval` subcommands share: reading records, the report files, ROUGE and judge options.
// @sfmed/llm (and openai under it) is imported only on the judge paths: ROUGE-L runs never pay its load time.
import path from "node:path";
import { cmbClinRubric, overallRubric, renderHtml, renderMarkdown, type EvalReport, type JudgeManyOptions, type RenderMarkdownOptions, type RougeBatchOptions } from "@sfmed/eval-metrics";
import { atomicWrite, readRecords, recordsOnly, writeRecords, type Prediction, type RecordKind, type RecordOf } from "@sfmed/schema/io";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, intFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import { writeStageReport } from "../stage-report.js";
import { guardOutputs, requireNonEmpty } from "./io-helpers.js";

export async function readAll<K extends RecordKind>(file: string, kind: K): Promise<RecordOf<K>[]> {
  const out: RecordOf<K>[] = [];
  for await (const r of recordsOnly(readRecords(file, { kind }))) out.push(r);
  return out;
}

export async function readPredictions(files: string[]): Promise<Prediction[]> {
  return (await Promise.all(files.map((f) => readAll(f, "prediction")))).flat();
}

/** Check the files {@link writeReport} will write against the inputs (exit 2 on a collision) before any work. */
export async function guardReport(out: string, name: string, inputs: Record<string, string | string[] | undefined>): Promise<void> {
  const files = [`${name}.json`, `${name}.md`, `${name}.html`, `${name}-items.jsonl`].map((f) => path.join(out, f));
  await guardOutputs({ inputs, outputs: Object.fromEntries(files.map((f) => [`-o (${path.basename(f)})`, f])) });
}

/** With no prediction for any question, every score is empty: exit 1 unless --allow-empty. */
export function requireMatches(predictions: ReadonlyArray<{ id: string }>, questions: ReadonlyArray<{ id: string }>, files: string[], allowEmpty: boolean | undefined): void {
  const ids = new Set(questions.map((q) => q.id));
  const matched = predictions.filter((p) => ids.has(p.id)).length;
  requireNonEmpty(matched, `no prediction in ${files.join(", ")} matches a question id (${questions.length} questions, ${predictions.length} predictions)`, allowEmpty);
}

/** Write `<out>/<name>.json` (the stage report) `.md`, `.html` and `-items.jsonl` atomically; print the Markdown table. */
export async function writeReport(c: CliContext, out: string, name: string, report: EvalReport, extra: { inputs: string[]; params: Record<string, unknown>; items: unknown[]; started: number; markdown?: RenderMarkdownOptions }) {
  const md = renderMarkdown(report, extra.markdown);
  await writeStageReport(path.join(out, `${name}.json`), { command: `eval ${name}`, inputs: extra.inputs, started: extra.started, fields: { report, params: extra.params } });
  await atomicWrite(path.join(out, `${name}.md`), [md]);
  await atomicWrite(path.join(out, `${name}.html`), [renderHtml(report, { title: `sfmed eval ${name}` })]);
  await writeRecords(path.join(out, `${name}-items.jsonl`), extra.items);
  c.stdout.write(md);
  c.info(`eval ${name}: ${path.join(out, name)}.{json,md,html} and ${name}-items.jsonl`);
}

export function rougeOptions(o: { tokenizer?: string; compat?: string; threads?: string }): RougeBatchOptions {
  const tokenizer = enumFlag("tokenizer", o.tokenizer, ["char", "jieba", "whitespace"] as const, { expected: "char, jieba or whitespace" });
  const compat = enumFlag("compat", o.compat, ["rouge-score", "rouge-chinese"] as const, { expected: "rouge-score or rouge-chinese" });
  const threads = intFlag("threads", o.threads, { min: 1 });
  return {
    ...(tokenizer ? { tokenizer } : {}),
    ...(compat ? { compat } : {}),
    ...(threads ? { threads } : {}),
    // Score empty answers 0 even under rouge-chinese: a model that says nothing loses, the run goes on.
    empty: "zero",
  };
}

export interface JudgeFlags {
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

export async function judgeOptions(o: JudgeFlags, c: CliContext, label: string): Promise<JudgeManyOptions & { bar: ReturnType<typeof createProgress> }> {
  if (!o.baseUrl || !o.model) throw new UsageError("the judge needs --base-url and --model");
  const scale = /^(\d+)-(\d+)$/.exec(o.scale);
  const [min, max] = scale ? [intFlag("scale", scale[1]!), intFlag("scale", scale[2]!)] : [0, 0];
  if (!scale || min >= max) throw new UsageError(`--scale must look like 1-10, got "${o.scale}"`);
  const kind = enumFlag("rubric", o.rubric, ["overall", "cmb-clin"] as const, { expected: "overall or cmb-clin" });
  const rubric = kind === "overall" ? overallRubric({ min, max }) : cmbClinRubric();
  const [retries, concurrency] = [intFlag("retries", o.retries, { min: 0 }), intFlag("concurrency", o.concurrency, { min: 1 })];
  // The on-disk response cache makes an interrupted run resume where it stopped (same prompts, same answers).
  const cacheDir = o.cache === false ? undefined : typeof o.cache === "string" ? o.cache : path.join(o.out, ".judge-cache");
  const { createOpenAIModel } = await import("@sfmed/llm");
  const model = createOpenAIModel({ baseURL: o.baseUrl, model: o.model, apiKey: process.env[o.apiKeyEnv], cacheDir });
  const bar = createProgress({ label, unit: "ans", quiet: c.quiet });
  return { model, rubric, retries, concurrency, onProgress: (d, t) => (bar.setTotal(t), bar.update(d)), bar };
}

export function judgeFlags(cmd: Command): Command {
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
