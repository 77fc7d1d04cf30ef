import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ModelResult } from "@sfmed/schema/hub";
import { UsageError } from "../context.js";
import { createProgress, type Progress } from "../progress.js";
import type { Register } from "./index.js";
import { parseEncoding, parseKind, readAny, resolveInputs } from "./io-helpers.js";

interface CommonFlags {
  private?: boolean;
  revision?: string;
  createPr?: boolean;
  message?: string;
  license?: string;
  command?: string[];
  report?: string[];
}

const REPO = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

function repoArg(repo: string | undefined): string {
  if (!repo || !REPO.test(repo)) throw new UsageError(`the last argument must be the Hub repo ORG/NAME, got "${repo ?? ""}"`);
  return repo;
}

/** One line per report: its file name and its top-level numbers (counts, rates) as a summary. */
async function summarizeReports(files: string[] | undefined): Promise<Record<string, string> | undefined> {
  if (!files?.length) return undefined;
  const out: Record<string, string> = {};
  for (const f of files) {
    let summary = path.basename(f);
    try {
      const json = JSON.parse(await readFile(f, "utf8")) as Record<string, unknown>;
      const nums = Object.entries(json.counts && typeof json.counts === "object" ? (json.counts as Record<string, unknown>) : json).filter(([, v]) => typeof v === "number");
      if (nums.length) summary += ": " + nums.slice(0, 8).map(([k, v]) => `${k} ${v as number}`).join(", ");
    } catch (err) {
      throw new UsageError(`--report ${f}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not a JSON report (${(err as Error).message})`}`);
    }
    out[path.basename(f).replace(/\.json$/, "")] = summary;
  }
  return out;
}

function uploadBar(quiet: boolean) {
  const bars = new Map<string, Progress>();
  return {
    onProgress(p: { path: string; progress: number }) {
      let bar = bars.get(p.path);
      if (!bar) bars.set(p.path, (bar = createProgress({ label: `upload ${p.path}`, total: 100, unit: "%", quiet })));
      bar.update(Math.round(p.progress * 100));
      if (p.progress >= 1) bar.stop();
    },
    stop: () => bars.forEach((b) => b.stop()),
  };
}

function hubOptions(o: CommonFlags) {
  return {
    ...(o.private ? { private: true } : {}),
    ...(o.revision ? { revision: o.revision } : {}),
    ...(o.createPr ? { createPr: true } : {}),
    ...(o.message ? { commitMessage: o.message } : {}),
  };
}

export const register: Register = (program, ctx) => {
  const push = program.command("push").description("push records (as a Parquet dataset) or a checkpoint to the Hugging Face Hub, with a card (token: HF_TOKEN or $HF_HOME/token)");
  const common = (cmd: ReturnType<typeof program.command>) =>
    cmd
      .option("--private", "create the repo private (an existing repo keeps its visibility)")
      .option("--revision <branch>", "branch to commit to (default main; it must exist)")
      .option("--create-pr", "open a pull request instead of committing to the branch")
      .option("-m, --message <title>", "commit title")
      .option("--license <id>", "license id for the card, e.g. apache-2.0, cc-by-nc-4.0 (default other)")
      .option("--command <line...>", "sfmed command lines that made it, listed in the card")
      .option("--report <file...>", "JSON reports (dedup, validate, eval …) named and summarised in the card");

  common(
    push
      .command("dataset")
      .description("write records as size-bounded Parquet shards data/{split}-NNNNN-of-NNNNN.parquet with a dataset card, and push them")
      .argument("<args...>", "record files (JSONL, JSON, CSV, Parquet; hf://datasets/… too), then the repo ORG/NAME")
      .option("--split <name>", "split the records form", "train")
      .option("--schema <kind>", "validate every record as this kind before anything is uploaded")
      .option("--encoding <enc>", "input text encoding: auto, utf-8, gb18030", "auto")
      .option("--max-shard-bytes <n>", "start a new shard past this many bytes of JSON (default 500e6)")
      .option("--pretty-name <name>", "the card's title")
      .option("--language <code...>", "languages (default zh)")
      .option("--task-category <c...>", "Hub task categories (default text-generation question-answering)")
      .option("--source-dataset <id...>", "Hub ids of the data it was built from"),
  ).action(
    async (
      args: string[],
      o: CommonFlags & { split: string; schema?: string; encoding?: string; maxShardBytes?: string; prettyName?: string; language?: string[]; taskCategory?: string[]; sourceDataset?: string[] },
    ) => {
      const c = ctx();
      const repo = repoArg(args.at(-1));
      const inputs = args.slice(0, -1);
      if (!inputs.length) throw new UsageError("push dataset: give at least one record file before the repo");
      if (!/^[\w-]+$/.test(o.split)) throw new UsageError(`--split must be letters, digits, _ or -, got "${o.split}"`);
      const maxShardBytes = o.maxShardBytes === undefined ? undefined : Number(o.maxShardBytes);
      if (maxShardBytes !== undefined && !(maxShardBytes >= 1)) throw new UsageError(`--max-shard-bytes must be a positive number, got "${o.maxShardBytes}"`);
      const kind = parseKind(o.schema);
      const encoding = parseEncoding(o.encoding);
      const reports = await summarizeReports(o.report);
      const files = await resolveInputs(inputs, { quiet: c.quiet });
      // Validate everything first so a bad record never leaves a half-pushed dataset.
      if (kind) for (const f of files) for await (const _ of readAny(f, { kind, onInvalid: "error", encoding }));
      async function* records() {
        for (const f of files) for await (const r of readAny(f, { onInvalid: "error", encoding })) yield r.record as Record<string, unknown>;
      }
      const { pushDataset } = await import("@sfmed/schema/hub");
      const bar = uploadBar(c.quiet);
      try {
        const res = await pushDataset({
          repo,
          splits: { [o.split]: records() },
          ...(maxShardBytes ? { maxShardBytes } : {}),
          ...hubOptions(o),
          onProgress: bar.onProgress,
          card: {
            ...(o.prettyName ? { prettyName: o.prettyName } : {}),
            ...(o.license ? { license: o.license } : {}),
            ...(o.language ? { language: o.language } : {}),
            ...(o.taskCategory ? { taskCategories: o.taskCategory } : {}),
            ...(o.sourceDataset ? { sourceDatasets: o.sourceDataset } : {}),
            ...(o.command ? { commands: o.command } : {}),
            ...(reports ? { reports } : {}),
          },
        });
        const s = res.splits[0]!;
        c.info(`push: ${s.records} records in ${s.files.length} shard${s.files.length > 1 ? "s" : ""} → ${repo} (${res.pullRequestUrl ? `pull request ${res.pullRequestUrl}` : `commit ${res.commit.slice(0, 10)}`})`);
      } finally {
        bar.stop();
      }
    },
  );

  common(
    push
      .command("model")
      .description("push a checkpoint folder (safetensors, config, tokenizer; training state left out) with a model card")
      .argument("<dir>", "checkpoint folder")
      .argument("<repo>", "Hub repo ORG/NAME")
      .option("--base-model <id...>", "Hub id(s) of the model(s) it was trained or merged from (card base_model)")
      .option("--dataset <id...>", "Hub ids of the training data")
      .option("--results <file>", "JSON array of {task, dataset: {name, type, split?}, metrics: [{type, value, name?}]} for the card's model-index"),
  ).action(async (dir: string, repoIn: string, o: CommonFlags & { baseModel?: string[]; dataset?: string[]; results?: string }) => {
    const c = ctx();
    const repo = repoArg(repoIn);
    let results: ModelResult[] | undefined;
    if (o.results) {
      try {
        results = JSON.parse(await readFile(o.results, "utf8")) as ModelResult[];
      } catch (err) {
        throw new UsageError(`--results ${o.results}: ${(err as Error).message}`);
      }
      if (!Array.isArray(results) || !results.every((r) => r && typeof r.task === "string" && r.dataset && Array.isArray(r.metrics))) {
        throw new UsageError(`--results ${o.results}: expected an array of {task, dataset: {name, type}, metrics: [{type, value}]}`);
      }
    }
    const reports = await summarizeReports(o.report);
    const { pushModel } = await import("@sfmed/schema/hub");
    const bar = uploadBar(c.quiet);
    try {
      const res = await pushModel({
        repo,
        dir,
        ...hubOptions(o),
        onProgress: bar.onProgress,
        card: {
          ...(o.baseModel ? { baseModel: o.baseModel.length === 1 ? o.baseModel[0]! : o.baseModel } : {}),
          ...(o.license ? { license: o.license } : {}),
          ...(o.dataset ? { datasets: o.dataset } : {}),
          ...(results ? { results } : {}),
          ...(o.command ? { commands: o.command } : {}),
          ...(reports ? { reports } : {}),
        },
      });
      c.info(`push: ${res.files.length} files → ${repo} (${res.pullRequestUrl ? `pull request ${res.pullRequestUrl}` : `commit ${res.commit.slice(0, 10)}`})`);
    } finally {
      bar.stop();
    }
  });
};
