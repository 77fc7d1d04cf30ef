import { ReservoirSampler } from "@sfmed/eval-metrics";
import { createOpenAIModel } from "@sfmed/llm";
import { readRecords, writeJsonl, ValidationError, type Message } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";

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
    .requiredOption("-i, --input <file>", "records with a prompt: ReferenceQA, Dialogue (last answer dropped), PreferencePair, candidate sets")
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
    .option("--label <name>", "the `model` field written in Predictions (default: --model)")
    .action(async (o: { input: string; output: string; baseUrl: string; model: string; n: string; temperature: string; maxTokens: string; seed: string; concurrency: string; limit?: string; sample?: string; cacheDir?: string; label?: string }) => {
      const c = ctx();
      const num = (name: string, v: string, min = 0) => {
        const x = Number(v);
        if (!Number.isFinite(x) || x < min) throw new UsageError(`--${name} must be a number ≥ ${min}, got "${v}"`);
        return x;
      };
      const n = num("n", o.n, 1);
      const limit = o.limit !== undefined ? num("limit", o.limit, 1) : Infinity;
      if (o.sample !== undefined && o.limit !== undefined) throw new UsageError("--sample and --limit exclude each other (--limit takes the first N, --sample a random N)");
      const sampleSize = o.sample !== undefined ? num("sample", o.sample, 1) : undefined;
      if (sampleSize !== undefined && (!Number.isInteger(sampleSize) || !Number.isInteger(Number(o.seed)))) throw new UsageError("--sample and --seed must be integers");
      const sampler = sampleSize !== undefined ? new ReservoirSampler<{ id: string; prompt: Message[] }>(sampleSize, { seed: Number(o.seed) }) : undefined;
      const model = createOpenAIModel({ baseURL: o.baseUrl, model: o.model, concurrency: num("concurrency", o.concurrency, 1), ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}) });
      let items: Array<{ id: string; prompt: Message[] }> = [];
      for await (const { record, file, line } of readRecords(o.input)) {
        if (items.length >= limit) break;
        const id = (record as { id?: unknown }).id;
        if (typeof id !== "string" || !id) throw new ValidationError("missing id", { file, line, field: "id" });
        const item = { id, prompt: promptOf(record, { file, line }) };
        if (sampler) sampler.add(item);
        else items.push(item);
      }
      if (sampler) items = sampler.result().items;
      const bar = createProgress({ label: "generate", total: items.length, unit: "prompt", quiet: c.quiet });
      let done = 0;
      const opts = { temperature: num("temperature", o.temperature), maxTokens: num("max-tokens", o.maxTokens, 1), seed: num("seed", o.seed) };
      const outputs = await Promise.all(
        // The model object bounds requests in flight (--concurrency).
        items.map((it) =>
          (async () => {
            // Several single-choice calls with distinct seeds: servers differ in honouring `n`.
            const texts: string[] = [];
            for (let k = 0; k < n; k++) texts.push(...(await model.chat(it.prompt, { ...opts, seed: opts.seed + k })).texts.slice(0, 1));
            bar.update(++done);
            return texts;
          })(),
        ),
      ).finally(() => bar.stop());
      const label = o.label ?? o.model;
      const records = items.map((it, i) => (n === 1 ? { id: it.id, model: label, output: outputs[i]![0]! } : { id: it.id, prompt: it.prompt, responses: outputs[i]! }));
      await writeJsonl(o.output, records);
      const s = model.stats();
      const drawn = sampler ? ` (a random sample of ${sampler.seen} records, seed ${o.seed})` : "";
      c.info(`generate: ${items.length} prompts${drawn} × ${n} → ${o.output} (${JSON.stringify(s)})`);
    });
};
