import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { createOpenAIModel } from "@sfmed/llm";
import {
  INSTRUCTION_LANGUAGES,
  PROMPT_LAYOUTS,
  type SEED_INSTRUCTIONS,
  augmentInstructions,
  defaultSeeds,
  parseLexicon,
  seedsForFullHistory,
  type AugmentReport,
} from "@sfmed/instruct-augment";
import { atomicWrite, readLines, readRecords } from "@sfmed/schema";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import type { Register } from "./index.js";

interface AugmentFlags {
  seeds?: string;
  baseUrl: string;
  model: string;
  steps: string;
  output: string;
  resume?: boolean;
  pool: string;
  seed: string;
  shots: string;
  layout: string;
  language: string;
  shortHistory?: boolean;
  retainOldest: string;
  retainNewest: string;
  swapEvery: string;
  minTerms: string;
  maxRougeL: string;
  lexicon?: string;
  temperature: string;
  maxTokens: string;
  timeout: string;
  apiKeyEnv: string;
  cache?: string | boolean;
  maxCalls?: string;
  maxTotalTokens?: string;
  maxCost?: string;
  priceIn?: string;
  priceOut?: string;
  json?: boolean;
}

const num = (name: string, v: string | undefined, integer = false): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be a ${integer ? "whole " : ""}number ≥ 0, got "${v}"`);
  return n;
};

/** Seed instructions from a text file (one per line) or JSON/JSONL records with `instruction` or `text`. */
export async function readInstructionFile(file: string): Promise<Array<{ text: string; pool?: string }>> {
  if (/\.(jsonl|ndjson|json|csv|tsv)(\.gz)?$/i.test(file)) {
    const out: Array<{ text: string; pool?: string }> = [];
    for await (const { record, line } of readRecords(file)) {
      const r = record as { instruction?: unknown; text?: unknown; pool?: unknown } | string;
      const text = typeof r === "string" ? r : typeof r.instruction === "string" ? r.instruction : typeof r.text === "string" ? r.text : undefined;
      if (text === undefined) throw new UsageError(`${file}:${line}: expected a string or a record with "instruction" or "text"`);
      out.push(typeof r === "object" && typeof r.pool === "string" ? { text, pool: r.pool } : { text });
    }
    return out;
  }
  // Text: one instruction per line, through the schema reader (gzip, UTF-8 or GB18030; bad bytes name the line).
  const out: Array<{ text: string }> = [];
  for await (const { text } of readLines(file)) {
    const t = text.trim();
    if (t && !t.startsWith("#")) out.push({ text: t });
  }
  return out;
}

/**
 * Where a run writes: `-o FILE` gives FILE plus FILE.state.json, FILE.report.json and FILE.llm-cache/; `-o DIR/`
 * (a trailing slash or an existing folder, as pipeline stages pass `${out}`) gives DIR/{pool}.jsonl and friends.
 */
async function outputPaths(output: string, pool: string) {
  const isDir = /[\\/]$/.test(output) || (await stat(output).then((s) => s.isDirectory(), () => false));
  const file = isDir ? path.join(output, `${pool}.jsonl`) : output;
  return { file, state: `${file}.state.json`, report: `${file}.report.json`, cache: `${file}.llm-cache` };
}

function printReport(c: CliContext, r: AugmentReport, out: string) {
  const rej = Object.entries(r.rejected)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  c.info(
    [
      `augment: ${r.steps} steps (${r.stoppedBy === "steps" ? "done" : `stopped by ${r.stoppedBy}`}), ${r.accepted} accepted of ${r.candidates} candidates (${(100 * r.acceptanceRate).toFixed(1)}%)`,
      `  rejected: ${rej || "none"}`,
      `  diversity: distinct-2 ${r.diversity.distinct2.toFixed(3)}, mean pairwise ROUGE-L ${r.diversity.meanPairwiseRougeL.toFixed(3)}; lexicon terms used ${r.lexicon.distinctTerms}`,
      `  usage: ${r.usage.calls} calls (${r.usage.cachedCalls} cached), ${r.usage.promptTokens + r.usage.completionTokens} tokens, cost ${r.usage.cost.toFixed(4)}`,
      `  wrote ${out}`,
    ].join("\n"),
  );
}

export const register: Register = (program, ctx) => {
  program
    .command("augment")
    .description("grow medical system instructions from seeds with question/answer banks and an OpenAI-compatible model (SF-Med §3.2)")
    .option("--seeds <file>", "seed instructions: .txt (one per line) or .jsonl/.json with an instruction field (default: 12 built-in seeds of the pool and --language)")
    .requiredOption("--base-url <url>", "OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    .requiredOption("--model <name>", "model name sent to the server")
    .requiredOption("--steps <n>", "augmentation steps (one model call each)")
    .requiredOption("-o, --output <path>", "accepted instructions, JSONL (beside it: .state.json checkpoint, .report.json); a folder gets POOL.jsonl")
    .option("--resume", "continue from the checkpoint beside the output")
    .option("--pool <kind>", "which pool these instructions are for: single or multi", "single")
    .option("--seed <n>", "random seed", "0")
    .option("--shots <n>", "question/answer pairs in the historical dialogue (needs 2 × (shots + 1) seeds)", "5")
    .option("--layout <kind>", "figure2 ({Q}{Prompt}{A} turns, one instruction per answer, as the paper) or numbered (ask for a numbered list)", "figure2")
    .option("--language <lang>", "zh or en: templates, filter and default lexicon and seeds", "zh")
    .option("--short-history", "allow fewer seeds than a full history needs; the history grows as the banks fill")
    .option("--retain-oldest <m>", "oldest instructions kept per bank", "20")
    .option("--retain-newest <n>", "newest instructions kept per bank", "80")
    .option("--swap-every <k>", "swap the banks every K steps (0: never)", "10")
    .option("--min-terms <k>", "medical lexicon terms a candidate needs", "1")
    .option("--max-rouge-l <f>", "reject candidates with ROUGE-L F at or above this against the banks", "0.7")
    .option("--lexicon <file>", "medical lexicon (one term per line, THUOCL format accepted); default: shipped THUOCL top 5,000")
    .option("--temperature <t>", "sampling temperature", "0.9")
    .option("--max-tokens <n>", "completion tokens per call", "1024")
    .option("--timeout <s>", "per-request timeout in seconds", "120")
    .option("--api-key-env <name>", "environment variable holding the API key", "OPENAI_API_KEY")
    .option("--cache <dir>", "response cache directory (default: OUTPUT.llm-cache)")
    .option("--no-cache", "do not cache responses")
    .option("--max-calls <n>", "stop cleanly after this many live model calls")
    .option("--max-total-tokens <n>", "stop cleanly after this many live tokens")
    .option("--max-cost <x>", "stop cleanly after this cost (needs --price-in/--price-out)")
    .option("--price-in <x>", "price per million prompt tokens")
    .option("--price-out <x>", "price per million completion tokens")
    .option("--json", "print the report as JSON on stdout")
    .action(async (o: AugmentFlags) => {
      const c = ctx();
      if (o.pool !== "single" && o.pool !== "multi") throw new UsageError(`--pool must be single or multi, got "${o.pool}"`);
      const pool = o.pool as keyof typeof SEED_INSTRUCTIONS;
      const steps = num("steps", o.steps, true)!;
      const layout = enumFlag("layout", o.layout, PROMPT_LAYOUTS);
      const language = enumFlag("language", o.language, INSTRUCTION_LANGUAGES);
      const seeds = o.seeds ? (await readInstructionFile(o.seeds)).map((s) => s.text) : defaultSeeds(pool, language);
      const need = seedsForFullHistory(num("shots", o.shots, true)!);
      const distinct = new Set(seeds.map((s) => s.trim()).filter(Boolean)).size;
      if (!o.shortHistory && distinct < need) {
        throw new UsageError(`${o.seeds ?? "seeds"}: ${distinct} distinct seed instructions, a --shots ${o.shots} history needs ${need}; add seeds, lower --shots or pass --short-history`);
      }
      const lexicon = o.lexicon ? parseLexicon(await readFile(o.lexicon, "utf8")) : undefined;
      const pricing =
        o.priceIn !== undefined || o.priceOut !== undefined
          ? { inputPerMillion: num("price-in", o.priceIn) ?? 0, outputPerMillion: num("price-out", o.priceOut) ?? 0 }
          : undefined;
      if (o.maxCost !== undefined && !pricing) throw new UsageError("--max-cost needs --price-in and/or --price-out");
      const out = await outputPaths(o.output, pool);
      const cacheDir = o.cache === false ? undefined : typeof o.cache === "string" ? o.cache : out.cache;
      const model = createOpenAIModel({
        baseURL: o.baseUrl,
        model: o.model,
        apiKey: process.env[o.apiKeyEnv],
        timeoutMs: num("timeout", o.timeout)! * 1000,
        cacheDir,
        pricing,
      });
      const bar = createProgress({ label: "augment", total: steps, unit: "step", quiet: c.quiet || o.json });
      const started = Date.now();
      // Calls made before a resume do not count towards this session's rate.
      let callsAtStart: number | undefined;
      const ac = new AbortController();
      const onSigint = () => {
        c.info("stopping after the current step (the checkpoint keeps every finished step)");
        process.off("SIGINT", onSigint);
        ac.abort();
      };
      process.on("SIGINT", onSigint);
      let result;
      try {
        result = await augmentInstructions({
          model,
          seeds,
          steps,
          seed: num("seed", o.seed, true),
          shots: num("shots", o.shots, true),
          layout,
          language,
          shortHistory: Boolean(o.shortHistory),
          retainOldest: num("retain-oldest", o.retainOldest, true),
          retainNewest: num("retain-newest", o.retainNewest, true),
          swapEvery: num("swap-every", o.swapEvery, true),
          filter: { minTerms: num("min-terms", o.minTerms, true)!, maxRougeL: num("max-rouge-l", o.maxRougeL)! },
          lexicon,
          chat: { temperature: num("temperature", o.temperature)!, maxTokens: num("max-tokens", o.maxTokens, true)! },
          checkpointPath: out.state,
          resume: Boolean(o.resume),
          budget: { maxCalls: num("max-calls", o.maxCalls, true), maxTokens: num("max-total-tokens", o.maxTotalTokens, true), maxCost: num("max-cost", o.maxCost) },
          pricing,
          signal: ac.signal,
          onProgress: (p) => {
            const secs = (Date.now() - started) / 1000;
            callsAtStart ??= p.calls;
            bar.update(p.step, {
              acc: `${(100 * p.acceptanceRate).toFixed(0)}%`,
              "calls/s": secs > 0 ? ((p.calls - callsAtStart) / secs).toFixed(2) : "0",
              cost: p.cost.toFixed(4),
            });
          },
        });
      } catch (err) {
        bar.stop();
        c.info(`augment: every finished step is in ${out.state}; run the same command with --resume to continue`);
        throw err;
      } finally {
        bar.stop();
        process.off("SIGINT", onSigint);
      }
      const lines = result.instructions.map((i) => JSON.stringify({ instruction: i.text, pool: o.pool, step: i.step, terms: i.terms }) + "\n");
      await atomicWrite(out.file, lines);
      await atomicWrite(out.report, [JSON.stringify({ ...result.report, pool }, null, 2) + "\n"]);
      if (o.json) c.stdout.write(JSON.stringify(result.report) + "\n");
      printReport(c, result.report, out.file);
    });
};
