import { rm } from "node:fs/promises";
import path from "node:path";
import { ReservoirSampler } from "@sfmed/eval-metrics";
import { createOpenAIModel, promptOfRecord, sampleAnswers } from "@sfmed/llm";
import { hashFile, JsonlCheckpoint, ValidationError, writeJsonl, type Message, type TextEncoding } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { intFlag, LIMITS, maskUrl, numberFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";
import { guardOutputs, parseEncoding, readAny, requireFile, stdinAsFile } from "./io-helpers.js";

/** A prompt could not be answered; the message names the input file, line and record id. */
export class GenerateError extends Error {
  override readonly name = "GenerateError";
}

type Item = { id: string; prompt: Message[]; line: number };
type Flags = { input: string; output: string; baseUrl: string; model: string; n: string; temperature: string; maxTokens: string; seed: string; concurrency: string; limit?: string; sample?: string; cacheDir?: string; label?: string; apiKeyEnv: string; timeout: string; encoding?: string };

/** The prompts of the input (ids unique), the first `limit` or a seeded uniform sample of them, in file order. */
async function readPrompts(source: string, o: { limit: number; sampler: ReservoirSampler<Item> | undefined; encoding: TextEncoding | undefined }): Promise<Item[]> {
  const items: Item[] = [];
  const firstLine = new Map<string, number>();
  for await (const { record, file, line } of readAny(source, { onInvalid: "error", encoding: o.encoding })) {
    if (items.length >= o.limit) break;
    const id = (record as { id?: unknown }).id;
    if (typeof id !== "string" || !id) throw new ValidationError("missing id", { file, line, field: "id" });
    // Two records with one id would give two predictions for one question.
    const seen = firstLine.get(id);
    if (seen !== undefined) throw new ValidationError(`id "${id}" repeats the record at line ${seen}`, { file, line, field: "id" });
    firstLine.set(id, line);
    const item = { id, prompt: promptOfRecord(record, { file, line }), line };
    if (o.sampler) o.sampler.add(item);
    else items.push(item);
  }
  return o.sampler ? o.sampler.result().items : items;
}

function parseFlags(o: Flags) {
  if (o.sample !== undefined && o.limit !== undefined) throw new UsageError("--sample and --limit exclude each other (--limit takes the first N, --sample a random N)");
  return {
    n: intFlag("n", o.n, { min: 1, max: LIMITS.responses }),
    limit: intFlag("limit", o.limit, { min: 1 }),
    sample: intFlag("sample", o.sample, { min: 1 }),
    timeoutS: numberFlag("timeout", o.timeout, { min: 0, minExclusive: true }),
    concurrency: intFlag("concurrency", o.concurrency, { min: 1, max: LIMITS.concurrency }),
    chat: { temperature: numberFlag("temperature", o.temperature, { min: 0 }), maxTokens: intFlag("max-tokens", o.maxTokens, { min: 1 }), seed: intFlag("seed", o.seed) },
    encoding: parseEncoding(o.encoding),
  };
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
    .action(async (o: Flags) => {
      const c = ctx();
      const f = parseFlags(o);
      await requireFile("-i", o.input);
      await guardOutputs({ inputs: { "-i": o.input }, outputs: { "-o": o.output } });
      const source = o.input === "-" ? await stdinAsFile() : o.input;
      const sampler = f.sample !== undefined ? new ReservoirSampler<Item>(f.sample, { seed: f.chat.seed }) : undefined;
      const model = createOpenAIModel({ baseURL: o.baseUrl, model: o.model, apiKey: process.env[o.apiKeyEnv], timeoutMs: f.timeoutS * 1000, concurrency: f.concurrency, ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}) });
      const items = await readPrompts(source, { limit: f.limit ?? Infinity, sampler, encoding: f.encoding });
      // Answers are kept as they arrive in a checkpoint beside the output (even without --cache-dir), so a rerun
      // after a crash or Ctrl-C asks only for the rest. It belongs to these parameters and this input.
      const checkpointFile = path.join(path.dirname(path.resolve(o.output)), `.${path.basename(o.output)}.generate.jsonl`);
      const header = { kind: "sfmed-generate", model: o.model, baseUrl: maskUrl(o.baseUrl), n: f.n, ...f.chat, limit: o.limit ?? null, sample: f.sample ?? null, input: await hashFile(source) };
      const checkpoint = await JsonlCheckpoint.open<{ id: string; texts: string[] }>(checkpointFile, { header, key: (e) => e.id, onWarning: (w) => c.info(`generate: ${w}`) });
      const resumed = items.filter((it) => checkpoint.has(it.id)).length;
      if (resumed) c.info(`generate: ${resumed} of ${items.length} prompts answered by an earlier run (${checkpointFile})`);
      const bar = createProgress({ label: "generate", total: items.length, unit: "prompt", quiet: c.quiet });
      let done = resumed;
      bar.update(done);
      // The model object bounds requests in flight (--concurrency).
      const answer = async (it: Item) => {
        const texts = await sampleAnswers(model, it.prompt, f.n, f.chat).catch((cause: Error) => {
          throw new GenerateError(`${o.input}:${it.line}: record "${it.id}": ${maskUrl(cause.message)}`, { cause });
        });
        await checkpoint.append({ id: it.id, texts });
        bar.update(++done);
      };
      const settled = await Promise.allSettled(items.filter((it) => !checkpoint.has(it.id)).map(answer));
      bar.stop();
      await checkpoint.close();
      const failed = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed.length) {
        const first = failed[0]!.reason as Error;
        if (failed.length > 1) first.message += ` (and ${failed.length - 1} more failed; ${done} answers kept in ${checkpointFile}, rerun to continue)`;
        throw first;
      }
      const label = o.label ?? o.model;
      await writeJsonl(o.output, items.map((it) => {
        const texts = checkpoint.done.get(it.id)!.texts;
        return f.n === 1 ? { id: it.id, model: label, output: texts[0]! } : { id: it.id, prompt: it.prompt, responses: texts };
      }));
      await rm(checkpointFile, { force: true });
      const drawn = sampler ? ` (a random sample of ${sampler.seen} records, seed ${o.seed})` : "";
      c.info(`generate: ${items.length} prompts${drawn} × ${f.n} → ${o.output} (${JSON.stringify(model.stats())})`);
    });
};
