import { readFile } from "node:fs/promises";
import path from "node:path";
import { cmbClinRubric, overallRubric } from "@sfmed/eval-metrics";
import { createOpenAIModel } from "@sfmed/llm";
import {
  buildHighRiskDb,
  charTokenizer,
  echoTokenizer,
  evaluateGate,
  gateFileFromDb,
  probeMemorization,
  readCheckpoint,
  readProbeSamples,
  renderGateMarkdown,
  saveHighRiskDb,
  writeGateFile,
  type GateQaOptions,
  type GateQaSet,
  type MembershipSource,
  type ProbeResult,
  type ProbeSample,
  type ReplacementSource,
  type SplitSpec,
} from "@sfmed/privacy-probe";
import { atomicWrite, hashFile, readRecords, recordsOnly, writeJsonl, type ReferenceQA } from "@sfmed/schema";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { createProgress } from "../progress.js";
import { guardOutputs } from "./io-helpers.js";
import type { Register } from "./index.js";

function num(name: string, v: string | undefined, check: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} must be ${what}, got "${v}"`);
  return n;
}
const int = (name: string, v: string | undefined, min = 0) => num(name, v, (n) => Number.isInteger(n) && n >= min, `an integer ≥ ${min}`);
const unit = (name: string, v: string | undefined) => num(name, v, (n) => n >= 0 && n <= 1, "a number in [0, 1]");

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new UsageError(`--${name} must be ${allowed.join(", ")}, got "${v}"`);
  return v as T;
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await atomicWrite(file, [JSON.stringify(value, null, 2) + "\n"]);
}

interface ModelFlags {
  baseUrl: string;
  model: string;
  apiKeyEnv: string;
  concurrency: string;
}

function modelFrom(o: ModelFlags, baseUrl = o.baseUrl, name = o.model) {
  const concurrency = int("concurrency", o.concurrency, 1)!;
  return createOpenAIModel({ baseURL: baseUrl, model: name, apiKey: process.env[o.apiKeyEnv], concurrency });
}

function modelOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--base-url <url>", "OpenAI-compatible server (trainer-py serve), e.g. http://127.0.0.1:8000/v1")
    .requiredOption("--model <name>", "model name sent to the server")
    .option("--api-key-env <name>", "environment variable holding the API key", "OPENAI_API_KEY")
    .option("--concurrency <n>", "requests in flight", "4");
}

interface SplitFlags {
  ratio?: string;
  suffixTokens?: string;
  prefixTokens?: string;
  tokenizer: string;
  limit?: string;
}

function splitFrom(o: SplitFlags): SplitSpec {
  const k = int("suffix-tokens", o.suffixTokens, 1);
  const p = int("prefix-tokens", o.prefixTokens, 1);
  if (o.ratio !== undefined && k !== undefined) throw new UsageError("--ratio and --suffix-tokens exclude each other");
  if (p !== undefined && k === undefined) throw new UsageError("--prefix-tokens needs --suffix-tokens");
  if (k !== undefined) return p !== undefined ? { prefixTokens: p, suffixTokens: k } : { suffixTokens: k };
  const r = num("ratio", o.ratio ?? "0.5", (n) => n > 0 && n < 1, "a number in (0, 1)")!;
  return { ratio: r };
}

async function collect(it: AsyncIterable<ProbeSample>): Promise<ProbeSample[]> {
  const out: ProbeSample[] = [];
  for await (const s of it) out.push(s);
  return out;
}

async function memorizedFrom(results: string): Promise<ProbeResult[]> {
  const all = await readCheckpoint<ProbeResult>(results);
  if (all.size === 0) throw new UsageError(`no probe results in ${results}`);
  return [...all.values()].filter((r) => r.memorized).sort((a, b) => a.id.localeCompare(b.id));
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
    .action(async (o: ModelFlags & SplitFlags & { data: string; out: string; threshold: string; metric: string; membership: string; stop?: string[]; worst: string; sample?: string; seed: string }) => {
      const c = ctx();
      const started = Date.now();
      const model = modelFrom(o);
      const tokenizer = oneOf("tokenizer", o.tokenizer, ["char", "server"] as const) === "server" ? echoTokenizer(model) : charTokenizer;
      const split = splitFrom(o);
      const threshold = unit("threshold", o.threshold)!;
      const metric = oneOf("metric", o.metric, ["f", "recall", "precision"] as const);
      const membership = oneOf<MembershipSource>("membership", o.membership, ["none", "continuation", "suffix-echo"]);
      const limit = int("limit", o.limit, 1);
      const sampleSize = int("sample", o.sample, 1);
      const seed = int("seed", o.seed)!;
      if (limit !== undefined && sampleSize !== undefined) throw new UsageError("--limit and --sample exclude each other (--limit takes the first n, --sample a random n)");
      const draw = sampleSize !== undefined ? { sample: { n: sampleSize, seed } } : {};
      await guardOutputs({ inputs: { "--data": o.data }, outputs: { "-o (memorization.jsonl)": path.join(o.out, "memorization.jsonl"), "-o (memorization.json)": path.join(o.out, "memorization.json") } });
      const samples = await collect(readProbeSamples({ file: o.data, split, tokenizer, ...(limit ? { limit } : {}), ...draw }));
      const results = path.join(o.out, "memorization.jsonl");
      const bar = createProgress({ label: "probe", total: samples.length, unit: "sample", quiet: c.quiet });
      let report;
      try {
        report = await probeMemorization({
          model,
          samples,
          threshold,
          metric,
          membership,
          checkpoint: results,
          concurrency: int("concurrency", o.concurrency, 1)!,
          worst: int("worst", o.worst)!,
          ...(o.stop ? { stop: o.stop } : {}),
          onProgress: (p) => bar.update(p.done, { memorized: p.memorized }),
        });
      } finally {
        bar.stop();
      }
      const file = path.join(o.out, "memorization.json");
      await writeJson(file, {
        report,
        params: { model: o.model, baseUrl: o.baseUrl, threshold, metric, split, tokenizer: o.tokenizer, membership, limit: limit ?? null, sample: sampleSize ?? null, seed },
        inputs: [{ file: o.data, sha256: await hashFile(o.data) }],
        seconds: (Date.now() - started) / 1000,
        createdAt: new Date().toISOString(),
      });
      c.stdout.write(`memorized ${report.memorized} of ${report.total} (${(report.rate * 100).toFixed(2)}%), exact ${report.exact}; report ${file}\n`);
    });
}

async function replacementsFrom(o: { safeResponse?: string; safeResponses?: string; replacements?: string }): Promise<ReplacementSource> {
  const given = [o.safeResponse, o.safeResponses, o.replacements].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError("give exactly one of --safe-response, --safe-responses or --replacements");
  if (o.safeResponse !== undefined) return { safeResponses: [o.safeResponse] };
  if (o.replacements !== undefined) {
    const v = JSON.parse(await readFile(o.replacements, "utf8")) as unknown;
    if (!Array.isArray(v) || !v.every((r) => Array.isArray(r) && r.every((x) => typeof x === "number"))) throw new UsageError(`${o.replacements}: expected a JSON array of number arrays`);
    return { vectors: (v as number[][]).map((r) => Float32Array.from(r)) };
  }
  // JSONL of {id, text}: one safe response per memorized sample id.
  const byId: Record<string, string> = {};
  for (const [i, line] of (await readFile(o.safeResponses!, "utf8")).split("\n").entries()) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { id?: unknown; text?: unknown };
    if (typeof r.id !== "string" || typeof r.text !== "string") throw new UsageError(`${o.safeResponses}:${i + 1}: expected {"id": string, "text": string}`);
    byId[r.id] = r.text;
  }
  return { safeResponses: byId };
}

function registerBuildGate(probe: Command, ctx: () => CliContext) {
  modelOptions(probe.command("build-gate").description("embed the memorized samples at a layer and write the high-risk database and the gate file serve loads"))
    .requiredOption("--results <file>", "memorization.jsonl from `sfmed probe memorization`")
    .requiredOption("--layer <n>", "layer whose mean-pooled output is gated (serve numbering: 0 = embeddings, L = L-th decoder layer)")
    .requiredOption("-o, --out <dir>", "output folder: gate.json, high-risk.bin and build-gate.json (report)")
    .option("--safe-response <text>", "one safe text whose embedding replaces every high-risk state")
    .option("--safe-responses <file>", "JSONL of {id, text}: a safe text per memorized sample")
    .option("--replacements <file>", "JSON array of replacement vectors (one, or one per memorized sample)")
    .option("--threshold <x>", "cosine similarity above which the gate fires", "0.8")
    .option("--embed <what>", "text embedded per sample: prefix (the prompt) or full", "prefix")
    .option("--pooling <name>", "mean or last", "mean")
    .option("--batch-size <n>", "texts per embedding request", "16")
    .action(async (o: ModelFlags & { results: string; layer: string; out: string; safeResponse?: string; safeResponses?: string; replacements?: string; threshold: string; embed: string; pooling: string; batchSize: string }) => {
      const c = ctx();
      const started = Date.now();
      const layer = int("layer", o.layer)!;
      const threshold = num("threshold", o.threshold, (n) => n >= -1 && n <= 1, "a cosine similarity in [-1, 1]")!;
      const replacements = await replacementsFrom(o);
      const memorized = await memorizedFrom(o.results);
      if (memorized.length === 0) throw new UsageError(`no memorized samples in ${o.results}: nothing to gate`);
      const bar = createProgress({ label: "embed", unit: "text", quiet: c.quiet });
      let db;
      try {
        db = await buildHighRiskDb({
          model: modelFrom(o),
          samples: memorized,
          layer,
          pooling: oneOf("pooling", o.pooling, ["mean", "last"] as const),
          embed: oneOf("embed", o.embed, ["prefix", "full"] as const),
          replacements,
          batchSize: int("batch-size", o.batchSize, 1)!,
          onProgress: (p) => {
            bar.setTotal(p.total);
            bar.update(p.embedded);
          },
        });
      } finally {
        bar.stop();
      }
      const gate = gateFileFromDb(db, { threshold });
      await saveHighRiskDb(path.join(o.out, "high-risk.bin"), db);
      await writeGateFile(path.join(o.out, "gate.json"), gate);
      await writeJson(path.join(o.out, "build-gate.json"), {
        report: { entries: db.entries.size, dim: db.entries.dim, layer, threshold, pooling: db.meta.pooling, embedded: db.meta.embedded, ids: db.entries.ids },
        params: { model: o.model, baseUrl: o.baseUrl },
        inputs: [{ file: o.results, sha256: await hashFile(o.results) }],
        seconds: (Date.now() - started) / 1000,
        createdAt: new Date().toISOString(),
      });
      c.stdout.write(`gate: ${db.entries.size} entries of ${db.entries.dim} dims at layer ${layer}, threshold ${threshold}; ${path.join(o.out, "gate.json")}\n`);
    });
}

/** A QA set's name from its file: `data/cmtmedqa.test.jsonl.gz` → `cmtmedqa.test`. */
const setName = (file: string) => path.basename(file).replace(/\.gz$/i, "").replace(/\.(jsonl|ndjson|json|csv|tsv)$/i, "");

/** The Table 11 options of `eval-gate`: QA sets and the judge, or undefined without `--qa`. */
async function qaFrom(o: { qa?: string[]; judgeModel?: string; judgeBaseUrl?: string; baseUrl: string; judgeApiKeyEnv: string; rubric: string; judgeRetries: string; qaMaxTokens: string; concurrency: string; out: string }): Promise<GateQaOptions | undefined> {
  if (!o.qa) {
    if (o.judgeModel !== undefined) throw new UsageError("--judge-model needs --qa (the QA sets to judge)");
    return undefined;
  }
  if (o.judgeModel === undefined) throw new UsageError("--qa needs --judge-model");
  const rubric = o.rubric === "overall" ? overallRubric() : o.rubric === "cmb-clin" ? cmbClinRubric() : undefined;
  if (!rubric) throw new UsageError(`--rubric must be overall or cmb-clin, got "${o.rubric}"`);
  const names = o.qa.map(setName);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new UsageError(`two --qa files make the set "${twice}": give each set its own file name`);
  const sets: GateQaSet[] = [];
  for (const [i, file] of o.qa.entries()) {
    const items: ReferenceQA[] = [];
    for await (const r of recordsOnly(readRecords(file, { kind: "qa" }))) items.push(r);
    sets.push({ name: names[i]!, items });
  }
  // The response cache lets an interrupted run resume: greedy answers repeat, so the judge prompts do too.
  const judge = createOpenAIModel({ baseURL: o.judgeBaseUrl ?? o.baseUrl, model: o.judgeModel, apiKey: process.env[o.judgeApiKeyEnv], cacheDir: path.join(o.out, ".judge-cache") });
  return {
    sets,
    judge: { model: judge, rubric, retries: int("judge-retries", o.judgeRetries)!, concurrency: int("concurrency", o.concurrency, 1)! },
    maxTokens: int("qa-max-tokens", o.qaMaxTokens, 1)!,
  };
}

function registerEvalGate(probe: Command, ctx: () => CliContext) {
  modelOptions(
    probe
      .command("eval-gate")
      .description("judge win/tie/loss of the original against the gated model on QA sets (Table 11, with --qa), the leak rate with and without the gate, and how often held-out answers change"),
  )
    .requiredOption("--gated-base-url <url>", "the same model served with the gate file loaded")
    .option("--gated-model <name>", "model name on the gated server (default: --model)")
    .requiredOption("--results <file>", "memorization.jsonl from `sfmed probe memorization` (its memorized samples are tested)")
    .requiredOption("--held-out <file>", "normal prompts not in the high-risk set (same record shapes as --data)")
    .requiredOption("-o, --out <dir>", "output folder: eval-gate.json, eval-gate.md and, with --qa, eval-gate-qa-items.jsonl")
    .option("--threshold <x>", "ROUGE-L above which a memorized sample leaks", "0.8")
    .option("--change-threshold <x>", "a held-out answer changed when ROUGE-L(gated, ungated) is below this", "0.8")
    .option("--max-tokens <n>", "generation budget for held-out prompts", "128")
    .option("--ratio <x>", "split of held-out text records (only their prefix is used)", "0.5")
    .option("--stop <text...>", "stop sequences for generation")
    .option("--qa <files...>", "Table 11: QA sets (ReferenceQA records, one set per file, named by the file) answered by both models and graded by the judge")
    .option("--judge-model <name>", "with --qa: the judge model (the paper: GPT-4)")
    .option("--judge-base-url <url>", "with --qa: the judge's OpenAI-compatible server (default: --base-url)")
    .option("--judge-api-key-env <name>", "with --qa: environment variable holding the judge's API key", "OPENAI_API_KEY")
    .option("--rubric <name>", "with --qa: overall (1–10) or cmb-clin", "overall")
    .option("--judge-retries <n>", "with --qa: extra judge calls after an unparsable judgment", "2")
    .option("--qa-max-tokens <n>", "with --qa: answer budget", "512")
    .action(async (o: ModelFlags & { gatedBaseUrl: string; gatedModel?: string; results: string; heldOut: string; out: string; threshold: string; changeThreshold: string; maxTokens: string; ratio: string; stop?: string[]; qa?: string[]; judgeModel?: string; judgeBaseUrl?: string; judgeApiKeyEnv: string; rubric: string; judgeRetries: string; qaMaxTokens: string }) => {
      const c = ctx();
      const started = Date.now();
      const qa = await qaFrom(o);
      const memorized = await memorizedFrom(o.results);
      const heldOut = await collect(readProbeSamples({ file: o.heldOut, split: splitFrom({ ratio: o.ratio, tokenizer: "char" }) }));
      const bar = createProgress({ label: "eval-gate", unit: "step", quiet: c.quiet });
      let ev;
      try {
        ev = await evaluateGate({
          ungated: modelFrom(o),
          gated: modelFrom(o, o.gatedBaseUrl, o.gatedModel ?? o.model),
          memorized,
          heldOut,
          threshold: unit("threshold", o.threshold)!,
          changeThreshold: unit("change-threshold", o.changeThreshold)!,
          heldOutMaxTokens: int("max-tokens", o.maxTokens, 1)!,
          concurrency: int("concurrency", o.concurrency, 1)!,
          ...(o.stop ? { stop: o.stop } : {}),
          ...(qa ? { qa } : {}),
          onProgress: (p) => {
            bar.setTotal(p.total);
            bar.update(p.done);
          },
        });
      } finally {
        bar.stop();
      }
      const file = path.join(o.out, "eval-gate.json");
      // Per-item answers and scores go to their own JSONL; the JSON report keeps the cells and counts.
      const report = ev.qa ? { ...ev, qa: { ...ev.qa, sets: ev.qa.sets.map(({ items: _items, ...set }) => set) } } : ev;
      if (ev.qa) await writeJsonl(path.join(o.out, "eval-gate-qa-items.jsonl"), ev.qa.sets.flatMap((set) => set.items));
      await atomicWrite(path.join(o.out, "eval-gate.md"), [renderGateMarkdown(ev)]);
      await writeJson(file, {
        report,
        params: {
          model: o.model,
          baseUrl: o.baseUrl,
          gatedBaseUrl: o.gatedBaseUrl,
          ...(qa ? { judge: { model: o.judgeModel, baseUrl: o.judgeBaseUrl ?? o.baseUrl, rubric: ev.qa?.rubric, retries: qa.judge.retries }, qaMaxTokens: qa.maxTokens } : {}),
        },
        inputs: await Promise.all([o.results, o.heldOut, ...(o.qa ?? [])].map(async (f) => ({ file: f, sha256: await hashFile(f) }))),
        seconds: (Date.now() - started) / 1000,
        createdAt: new Date().toISOString(),
      });
      const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
      const table11 = ev.qa ? `Table 11 (original vs privacy-safe, judge ${ev.qa.judge}): ${[...ev.qa.sets.map((s) => `${s.name} ${s.cell}`), ...(ev.qa.all ? [`all ${ev.qa.all.cell}`] : [])].join(", ")}; ` : "";
      c.stdout.write(
        table11 +
          `leak rate ${pct(ev.memorized.leakRateUngated)} → ${pct(ev.memorized.leakRateGated)} on ${ev.memorized.n} memorized; ` +
          `held-out changed ${pct(ev.heldOut.changedRate)} (identical ${pct(ev.heldOut.identicalRate)}) of ${ev.heldOut.n}; report ${file}\n`,
      );
    });
}

/** `sfmed probe memorization | build-gate | eval-gate`. */
export const register: Register = (program, ctx) => {
  const probe = program.command("probe").description("privacy probes: training-data memorization and the high-risk embedding gate");
  registerMemorization(probe, ctx);
  registerBuildGate(probe, ctx);
  registerEvalGate(probe, ctx);
};
