import path from "node:path";
import { buildHighRiskDb, evaluateGate, gateFileFromDb, readProbeSamples, renderGateMarkdown, saveHighRiskDb, writeGateFile } from "@sfmed/privacy-probe";
import { atomicWrite, writeJsonl } from "@sfmed/schema";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, fractionFlag, intFlag, numberFlag } from "../flags.js";
import { createProgress } from "../progress.js";
import { writeStageReport } from "../stage-report.js";
import { collect, concurrencyOf, memorizedFrom, modelFrom, modelOptions, qaFrom, replacementsFrom, splitFrom, type ModelFlags, type QaFlags } from "./probe-helpers.js";

type BuildGateFlags = ModelFlags & { results: string; layer: string; out: string; safeResponse?: string; safeResponses?: string; replacements?: string; threshold: string; embed: string; pooling: string; batchSize: string };

async function buildGate(c: CliContext, o: BuildGateFlags): Promise<void> {
  const started = Date.now();
  const layer = intFlag("layer", o.layer, { min: 0 });
  const threshold = numberFlag("threshold", o.threshold, { min: -1, max: 1, expected: "a cosine similarity in [-1, 1]" });
  const opts = { pooling: enumFlag("pooling", o.pooling, ["mean", "last"] as const), embed: enumFlag("embed", o.embed, ["prefix", "full"] as const), batchSize: intFlag("batch-size", o.batchSize, { min: 1 }) };
  const replacements = await replacementsFrom(o);
  const memorized = await memorizedFrom(o.results);
  if (memorized.length === 0) throw new UsageError(`no memorized samples in ${o.results}: nothing to gate`);
  const bar = createProgress({ label: "embed", unit: "text", quiet: c.quiet });
  const onProgress = (p: { total: number; embedded: number }) => (bar.setTotal(p.total), bar.update(p.embedded));
  const db = await buildHighRiskDb({ model: modelFrom(o), samples: memorized, layer, ...opts, replacements, onProgress }).finally(() => bar.stop());
  await saveHighRiskDb(path.join(o.out, "high-risk.bin"), db);
  await writeGateFile(path.join(o.out, "gate.json"), gateFileFromDb(db, { threshold }));
  const report = { entries: db.entries.size, dim: db.entries.dim, layer, threshold, pooling: db.meta.pooling, embedded: db.meta.embedded, ids: db.entries.ids };
  await writeStageReport(path.join(o.out, "build-gate.json"), { command: "probe build-gate", inputs: [o.results], started, fields: { report, params: { model: o.model, baseUrl: o.baseUrl } } });
  c.stdout.write(`gate: ${db.entries.size} entries of ${db.entries.dim} dims at layer ${layer}, threshold ${threshold}; ${path.join(o.out, "gate.json")}\n`);
}

export function registerBuildGate(probe: Command, ctx: () => CliContext) {
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
    .action((o: BuildGateFlags) => buildGate(ctx(), o));
}

type EvalGateFlags = ModelFlags & QaFlags & { gatedBaseUrl: string; gatedModel?: string; results: string; heldOut: string; threshold: string; changeThreshold: string; maxTokens: string; ratio: string; stop?: string[] };

async function evalGate(c: CliContext, o: EvalGateFlags): Promise<void> {
  const started = Date.now();
  const params = { threshold: fractionFlag("threshold", o.threshold), changeThreshold: fractionFlag("change-threshold", o.changeThreshold), heldOutMaxTokens: intFlag("max-tokens", o.maxTokens, { min: 1 }), concurrency: concurrencyOf(o) };
  const qa = await qaFrom(o);
  const memorized = await memorizedFrom(o.results);
  const heldOut = await collect(readProbeSamples({ file: o.heldOut, split: splitFrom({ ratio: o.ratio, tokenizer: "char" }) }));
  const bar = createProgress({ label: "eval-gate", unit: "step", quiet: c.quiet });
  const onProgress = (p: { total: number; done: number }) => (bar.setTotal(p.total), bar.update(p.done));
  const gated = modelFrom(o, o.gatedBaseUrl, o.gatedModel ?? o.model);
  const ev = await evaluateGate({ ungated: modelFrom(o), gated, memorized, heldOut, ...params, ...(o.stop ? { stop: o.stop } : {}), ...(qa ? { qa } : {}), onProgress }).finally(() => bar.stop());
  const file = path.join(o.out, "eval-gate.json");
  // Per-item answers and scores go to their own JSONL; the JSON report keeps the cells and counts.
  const report = ev.qa ? { ...ev, qa: { ...ev.qa, sets: ev.qa.sets.map(({ items: _items, ...set }) => set) } } : ev;
  if (ev.qa) await writeJsonl(path.join(o.out, "eval-gate-qa-items.jsonl"), ev.qa.sets.flatMap((set) => set.items));
  await atomicWrite(path.join(o.out, "eval-gate.md"), [renderGateMarkdown(ev)]);
  const judge = qa ? { judge: { model: o.judgeModel, baseUrl: o.judgeBaseUrl ?? o.baseUrl, rubric: ev.qa?.rubric, retries: qa.judge.retries }, qaMaxTokens: qa.maxTokens } : {};
  const inputs = [o.results, o.heldOut, ...(o.qa ?? [])];
  await writeStageReport(file, { command: "probe eval-gate", inputs, started, fields: { report, params: { model: o.model, baseUrl: o.baseUrl, gatedBaseUrl: o.gatedBaseUrl, ...judge } } });
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const cells = ev.qa ? [...ev.qa.sets.map((s) => `${s.name} ${s.cell}`), ...(ev.qa.all ? [`all ${ev.qa.all.cell}`] : [])] : [];
  const table11 = ev.qa ? `Table 11 (original vs privacy-safe, judge ${ev.qa.judge}): ${cells.join(", ")}; ` : "";
  const m = ev.memorized;
  c.stdout.write(`${table11}leak rate ${pct(m.leakRateUngated)} → ${pct(m.leakRateGated)} on ${m.n} memorized; held-out changed ${pct(ev.heldOut.changedRate)} (identical ${pct(ev.heldOut.identicalRate)}) of ${ev.heldOut.n}; report ${file}\n`);
}

export function registerEvalGate(probe: Command, ctx: () => CliContext) {
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
    .action((o: EvalGateFlags) => evalGate(ctx(), o));
}
