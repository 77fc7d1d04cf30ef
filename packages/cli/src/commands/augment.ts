import { readFile } from "node:fs/promises";
import { createOpenAIModel } from "@sfmed/llm";
import { augmentInstructions, defaultSeeds, parseLexicon, readInstructionFile, seedsForFullHistory } from "@sfmed/instruct-augment";
import { atomicWrite } from "@sfmed/schema";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import { writeStageReport } from "../stage-report.js";
import { loopOptions, outputPaths, pricingOf, printReport, timeoutMsOf, type AugmentFlags } from "./augment-helpers.js";
import type { Register } from "./index.js";

async function augment(c: CliContext, o: AugmentFlags): Promise<void> {
  const pool = enumFlag("pool", o.pool, ["single", "multi"] as const, { expected: "single or multi" });
  const opts = loopOptions(o);
  const seeds = o.seeds ? (await readInstructionFile(o.seeds)).map((s) => s.text) : defaultSeeds(pool, opts.language);
  const need = seedsForFullHistory(opts.shots);
  const distinct = new Set(seeds.map((s) => s.trim()).filter(Boolean)).size;
  // Said here in the flags' words; the library's TOO_FEW_SEEDS names its options.
  if (!o.shortHistory && distinct < need) throw new UsageError(`${o.seeds ?? "seeds"}: ${distinct} distinct seed instructions, a --shots ${o.shots} history needs ${need}; add seeds, lower --shots or pass --short-history`);
  const lexicon = o.lexicon ? parseLexicon(await readFile(o.lexicon, "utf8")) : undefined;
  const pricing = pricingOf(o);
  if (o.maxCost !== undefined && !pricing) throw new UsageError("--max-cost needs --price-in and/or --price-out");
  const out = await outputPaths(o.output, pool);
  const cacheDir = o.cache === false ? undefined : typeof o.cache === "string" ? o.cache : out.cache;
  const model = createOpenAIModel({ baseURL: o.baseUrl, model: o.model, apiKey: process.env[o.apiKeyEnv], timeoutMs: timeoutMsOf(o), cacheDir, pricing });
  const bar = createProgress({ label: "augment", total: opts.steps, unit: "step", quiet: c.quiet || o.json });
  const started = Date.now();
  let callsAtStart: number | undefined; // calls made before a resume do not count towards this session's rate
  const onProgress = (p: { step: number; calls: number; acceptanceRate: number; cost: number }) => {
    const secs = (Date.now() - started) / 1000;
    callsAtStart ??= p.calls;
    bar.update(p.step, { acc: `${(100 * p.acceptanceRate).toFixed(0)}%`, "calls/s": secs > 0 ? ((p.calls - callsAtStart) / secs).toFixed(2) : "0", cost: p.cost.toFixed(4) });
  };
  const ac = new AbortController();
  const onSigint = () => {
    c.info("stopping after the current step (the checkpoint keeps every finished step)");
    process.off("SIGINT", onSigint);
    ac.abort();
  };
  process.on("SIGINT", onSigint);
  const result = await augmentInstructions({ model, seeds, ...opts, lexicon, checkpointPath: out.state, pricing, signal: ac.signal, onProgress })
    .catch((err: unknown) => {
      bar.stop();
      c.info(`augment: every finished step is in ${out.state}; run the same command with --resume to continue`);
      throw err;
    })
    .finally(() => (bar.stop(), process.off("SIGINT", onSigint)));
  await atomicWrite(out.file, result.instructions.map((i) => JSON.stringify({ instruction: i.text, pool, step: i.step, terms: i.terms }) + "\n"));
  const inputs = [o.seeds, o.lexicon].filter((f): f is string => f !== undefined);
  await writeStageReport(out.report, { command: "augment", inputs, started, fields: { ...result.report, pool } });
  if (o.json) c.stdout.write(JSON.stringify(result.report) + "\n");
  printReport(c, result.report, out.file);
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
    .action((o: AugmentFlags) => augment(ctx(), o));
};
