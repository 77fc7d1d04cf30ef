import { ReservoirSampler } from "@sfmed/eval-metrics";
import { createOpenAIModel } from "@sfmed/llm";
import { rm } from "node:fs/promises";
import path from "node:path";
import { hashFile, JsonlCheckpoint, ValidationError, writeJsonl, type Message } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { intFlag, LIMITS, maskUrl, numberFlag } from "../flags.js";
import { guardOutputs, parseEncoding, readAny, requireFile, stdinAsFile } from "./io-helpers.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";

/** A prompt could not be answered; the message names the input file, line and record id. */
export class GenerateError extends Error {
  override readonly name = "GenerateError";
}

/** The default multiple-choice prompt: the stem, one line per option, and an answer cue. */
export function choicePrompt(question: string, options: Record<string, string>): string {
  const lines = Object.entries(options).map(([k, v]) => `${k}. ${v}`);
  return `${question}\n${lines.join("\n")}\n答案：`;
}

/**
 * The prompt of a record: `prompt` (ReferenceQA, PreferencePair, candidate sets), a Dialogue without its last
 * answer, or a ChoiceQuestion (stem and options).
 */
export function promptOf(rec: unknown, where: { file: string; line: number }): Message[] {
  const r = rec as { prompt?: unknown; messages?: unknown; question?: unknown; options?: unknown };
  if (typeof r.question === "string" && r.options && typeof r.options === "object") {
    return [{ role: "user", content: choicePrompt(r.question, r.options as Record<string, string>) }];
  }
  if (Array.isArray(r.prompt)) return r.prompt as Message[];
  if (Array.isArray(r.messages)) {
    const msgs = r.messages as Message[];
    const end = msgs.at(-1)?.role === "assistant" ? msgs.length - 1 : msgs.length;
    if (end > 0) return msgs.slice(0, end);
  }
  if (typeof r.question === "string") return [{ role: "user", content: r.question }];
  throw new ValidationError("no prompt: expected `prompt` (messages), `messages` or `question`", { file: where.file, line: where.line, field: "prompt" });
}

export const register: Register = (program, ctx) => {
  program
    .command("generate")
    .description("answer each record's prompt with a served model: Predictions (n = 1) or candidate sets {id, prompt, responses} (n > 1)")
    .requiredOption("-i, --input <file>", "records with a prompt: ReferenceQA, Dialogue (last answer dropped), PreferencePair, candidate sets (- reads stdin)")
    .requiredOption("-o, --output <file>", "Prediction JSONL, or candidate-set JSONL with --n > 1")
    .requiredOption("--base-url <url>", "OpenAI-compatible server, including /v1")
    .requiredOption("--model <name>", "model name sent to the server")
    .option("-n, --n <count>", "responses per prompt", "1")
    .option("--temperature <t>", "sampling temperature (0 = greedy)", "0.7")
    .option("--max-tokens <n>", "answer budget", "256")
    .option("--seed <n>", "seed of generation and of the --sample draw", "0")
    .option("--concurrency <n>", "requests in flight", "4")
    .option("--limit <n>", "only the first N records, in file order")
    .option("--sample <n>", "a uniform random sample of N records (reservoir sampling, reproducible from --seed), kept in file order")
    .option("--cache-dir <dir>", "on-disk response cache (re-runs cost nothing)")
    .option("--api-key-env <name>", "environment variable holding the API key", "OPENAI_API_KEY")
    .option("--timeout <s>", "seconds per request attempt before it is retried", "120")
    .option("--encoding <enc>", "input text encoding: auto, utf-8, gb18030", "auto")
    .option("--label <name>", "the `model` field written in Predictions (default: --model)")
    .action(async (o: { input: string; output: string; baseUrl: string; model: string; n: string; temperature: string; maxTokens: string; seed: string; concurrency: string; limit?: string; sample?: string; cacheDir?: string; label?: string; apiKeyEnv: string; timeout: string; encoding?: string }) => {
      const c = ctx();
      const num = (name: string, v: string, min = 0) => numberFlag(name, v, { min });
      const n = intFlag("n", o.n, { min: 1, max: LIMITS.responses });
      const limit = o.limit !== undefined ? intFlag("limit", o.limit, { min: 1 }) : Infinity;
      const timeoutS = numberFlag("timeout", o.timeout, { min: 0, minExclusive: true });
      const encoding = parseEncoding(o.encoding);
      await requireFile("-i", o.input);
      await guardOutputs({ inputs: { "-i": o.input }, outputs: { "-o": o.output } });
      const source = o.input === "-" ? await stdinAsFile() : o.input;
      if (o.sample !== undefined && o.limit !== undefined) throw new UsageError("--sample and --limit exclude each other (--limit takes the first N, --sample a random N)");
      const sampleSize = o.sample !== undefined ? num("sample", o.sample, 1) : undefined;
      if (sampleSize !== undefined && (!Number.isInteger(sampleSize) || !Number.isInteger(Number(o.seed)))) throw new UsageError("--sample and --seed must be integers");
      const sampler = sampleSize !== undefined ? new ReservoirSampler<{ id: string; prompt: Message[]; line: number }>(sampleSize, { seed: Number(o.seed) }) : undefined;
      const model = createOpenAIModel({
        baseURL: o.baseUrl,
        model: o.model,
        apiKey: process.env[o.apiKeyEnv],
        timeoutMs: timeoutS * 1000,
        concurrency: intFlag("concurrency", o.concurrency, { min: 1, max: LIMITS.concurrency }),
        ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      });
      type Item = { id: string; prompt: Message[]; line: number };
      let items: Item[] = [];
      const firstLine = new Map<string, number>();
      for await (const { record, file, line } of readAny(source, { onInvalid: "error", encoding })) {
        if (items.length >= limit) break;
        const id = (record as { id?: unknown }).id;
        if (typeof id !== "string" || !id) throw new ValidationError("missing id", { file, line, field: "id" });
        // Two records with one id would give two predictions for one question.
        const seen = firstLine.get(id);
        if (seen !== undefined) throw new ValidationError(`id "${id}" repeats the record at line ${seen}`, { file, line, field: "id" });
        firstLine.set(id, line);
        const item = { id, prompt: promptOf(record, { file, line }), line };
        if (sampler) sampler.add(item);
        else items.push(item);
      }
      if (sampler) items = sampler.result().items;
      const opts = { temperature: num("temperature", o.temperature), maxTokens: intFlag("max-tokens", o.maxTokens, { min: 1 }), seed: intFlag("seed", o.seed) };
      // Answers are kept as they arrive in a checkpoint beside the output (even without --cache-dir), so a rerun
      // after a crash or Ctrl-C asks only for the rest. It belongs to these parameters and this input.
      const checkpointFile = path.join(path.dirname(path.resolve(o.output)), `.${path.basename(o.output)}.generate.jsonl`);
      const header = { kind: "sfmed-generate", model: o.model, baseUrl: maskUrl(o.baseUrl), n, ...opts, limit: o.limit ?? null, sample: sampleSize ?? null, input: await hashFile(source) };
      const checkpoint = await JsonlCheckpoint.open<{ id: string; texts: string[] }>(checkpointFile, { header, key: (e) => e.id, onWarning: (w) => c.info(`generate: ${w}`) });
      const resumed = items.filter((it) => checkpoint.has(it.id)).length;
      if (resumed) c.info(`generate: ${resumed} of ${items.length} prompts answered by an earlier run (${checkpointFile})`);
      const bar = createProgress({ label: "generate", total: items.length, unit: "prompt", quiet: c.quiet });
      let done = resumed;
      bar.update(done);
      const settled = await Promise.allSettled(
        // The model object bounds requests in flight (--concurrency).
        items
          .filter((it) => !checkpoint.has(it.id))
          .map(async (it) => {
            // Several single-choice calls with distinct seeds: servers differ in honouring `n`.
            const texts: string[] = [];
            try {
              for (let k = 0; k < n; k++) texts.push(...(await model.chat(it.prompt, { ...opts, seed: opts.seed + k })).texts.slice(0, 1));
            } catch (cause) {
              throw new GenerateError(`${o.input}:${it.line}: record "${it.id}": ${maskUrl((cause as Error).message)}`, { cause });
            }
            await checkpoint.append({ id: it.id, texts });
            bar.update(++done);
          }),
      );
      bar.stop();
      await checkpoint.close();
      const failed = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed.length) {
        const first = failed[0]!.reason as Error;
        if (failed.length > 1) first.message += ` (and ${failed.length - 1} more failed; ${done} answers kept in ${checkpointFile}, rerun to continue)`;
        throw first;
      }
      const label = o.label ?? o.model;
      const records = items.map((it) => {
        const texts = checkpoint.done.get(it.id)!.texts;
        return n === 1 ? { id: it.id, model: label, output: texts[0]! } : { id: it.id, prompt: it.prompt, responses: texts };
      });
      await writeJsonl(o.output, records);
      await rm(checkpointFile, { force: true });
      const s = model.stats();
      const drawn = sampler ? ` (a random sample of ${sampler.seen} records, seed ${o.seed})` : "";
      c.info(`generate: ${items.length} prompts${drawn} × ${n} → ${o.output} (${JSON.stringify(s)})`);
    });
};
