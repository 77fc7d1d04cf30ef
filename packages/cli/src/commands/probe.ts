import path from "node:path";
import { charTokenizer, echoTokenizer, probeMemorization, readProbeSamples, type MembershipSource } from "@sfmed/privacy-probe";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, fractionFlag, intFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import { writeStageReport } from "../stage-report.js";
import type { Register } from "./index.js";
import { guardOutputs } from "./io-helpers.js";
import { registerBuildGate, registerEvalGate } from "./probe-gate.js";
import { collect, concurrencyOf, modelFrom, modelOptions, splitFrom, type ModelFlags, type SplitFlags } from "./probe-helpers.js";

type MemorizationFlags = ModelFlags & SplitFlags & { data: string; out: string; threshold: string; metric: string; membership: string; stop?: string[]; worst: string; sample?: string; seed: string };

async function memorization(c: CliContext, o: MemorizationFlags): Promise<void> {
  const started = Date.now();
  const model = modelFrom(o);
  const tokenizer = enumFlag("tokenizer", o.tokenizer, ["char", "server"] as const) === "server" ? echoTokenizer(model) : charTokenizer;
  const split = splitFrom(o);
  const params = {
    threshold: fractionFlag("threshold", o.threshold),
    metric: enumFlag("metric", o.metric, ["f", "recall", "precision"] as const),
    membership: enumFlag<MembershipSource>("membership", o.membership, ["none", "continuation", "suffix-echo"]),
    concurrency: concurrencyOf(o),
    worst: intFlag("worst", o.worst, { min: 0 }),
  };
  const [limit, sampleSize, seed] = [intFlag("limit", o.limit, { min: 1 }), intFlag("sample", o.sample, { min: 1 }), intFlag("seed", o.seed, { min: 0 })];
  if (limit !== undefined && sampleSize !== undefined) throw new UsageError("--limit and --sample exclude each other (--limit takes the first n, --sample a random n)");
  const results = path.join(o.out, "memorization.jsonl");
  const file = path.join(o.out, "memorization.json");
  await guardOutputs({ inputs: { "--data": o.data }, outputs: { "-o (memorization.jsonl)": results, "-o (memorization.json)": file } });
  const draw = sampleSize !== undefined ? { sample: { n: sampleSize, seed } } : {};
  const samples = await collect(readProbeSamples({ file: o.data, split, tokenizer, ...(limit ? { limit } : {}), ...draw }));
  const bar = createProgress({ label: "probe", total: samples.length, unit: "sample", quiet: c.quiet });
  const report = await probeMemorization({ model, samples, ...params, checkpoint: results, ...(o.stop ? { stop: o.stop } : {}), onProgress: (p) => bar.update(p.done, { memorized: p.memorized }) }).finally(() => bar.stop());
  const { threshold, metric, membership } = params;
  const reportParams = { model: o.model, baseUrl: o.baseUrl, threshold, metric, split, tokenizer: o.tokenizer, membership, limit: limit ?? null, sample: sampleSize ?? null, seed };
  await writeStageReport(file, { command: "probe memorization", inputs: [o.data], started, fields: { report, params: reportParams } });
  c.stdout.write(`memorized ${report.memorized} of ${report.total} (${(report.rate * 100).toFixed(2)}%), exact ${report.exact}; report ${file}\n`);
}

function registerMemorization(probe: Command, ctx: () => CliContext) {
  modelOptions(probe.command("memorization").description("probe which training samples the model reproduces from their prefix (ROUGE-L > threshold)"))
    .requiredOption("--data <file>", "training samples (JSONL or JSON array): text, messages, conversations, instruction/output or prefix/suffix")
    .requiredOption("-o, --out <dir>", "output folder: memorization.jsonl (per sample, resumable) and memorization.json (report)")
    .option("--threshold <x>", "ROUGE-L above which a sample counts as memorized (the paper: greater than 0.8)", "0.8")
    .option("--metric <name>", "ROUGE-L component compared with the threshold: f, recall or precision", "f")
    .option("--ratio <x>", "split text samples at this share of their tokens (default 0.5)")
    .option("--suffix-tokens <k>", "split text samples leaving the last k tokens as suffix (Carlini: 50)")
    .option("--prefix-tokens <n>", "with --suffix-tokens: prefix = first n tokens, suffix = the next k")
    .option("--tokenizer <name>", "token boundaries for the split: char or server (the served model's tokenizer via echo: vLLM or sfmed serve)", "char")
    .option("--membership <source>", "membership scores: none, continuation (log-probs of the model's output) or suffix-echo (of the true suffix; needs echo)", "continuation")
    .option("--stop <text...>", "stop sequences for generation")
    .option("--limit <n>", "probe only the first n samples, in file order")
    .option("--sample <n>", "probe a uniform random sample of n samples (reservoir sampling, reproducible from --seed; the paper probes a random subset)")
    .option("--seed <n>", "seed of the --sample draw", "0")
    .option("--worst <n>", "most-memorized samples listed in the report", "20")
    .action((o: MemorizationFlags) => memorization(ctx(), o));
}

/** `sfmed probe memorization | build-gate | eval-gate`. */
export const register: Register = (program, ctx) => {
  const probe = program.command("probe").description("privacy probes: training-data memorization and the high-risk embedding gate");
  registerMemorization(probe, ctx);
  registerBuildGate(probe, ctx);
  registerEvalGate(probe, ctx);
};
