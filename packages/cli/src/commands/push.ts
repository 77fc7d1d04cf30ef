import { UsageError, type CliContext } from "../context.js";
import { numberFlag } from "../flags.js";
import type { Register } from "./index.js";
import { parseEncoding, parseKind, readAny, resolveInputs } from "./io-helpers.js";
import { commonCard, commonOptions, hubOptions, landed, readResults, repoArg, summarizeReports, uploadBar, type CommonFlags } from "./push-helpers.js";

type DatasetFlags = CommonFlags & { split: string; schema?: string; encoding?: string; maxShardBytes?: string; prettyName?: string; language?: string[]; taskCategory?: string[]; sourceDataset?: string[] };

async function pushDatasetCommand(c: CliContext, args: string[], o: DatasetFlags): Promise<void> {
  const repo = repoArg(args.at(-1));
  const inputs = args.slice(0, -1);
  if (!inputs.length) throw new UsageError("push dataset: give at least one record file before the repo");
  if (!/^[\w-]+$/.test(o.split)) throw new UsageError(`--split must be letters, digits, _ or -, got "${o.split}"`);
  const maxShardBytes = numberFlag("max-shard-bytes", o.maxShardBytes, { min: 1 });
  const kind = parseKind(o.schema);
  const encoding = parseEncoding(o.encoding);
  const reports = await summarizeReports(o.report);
  const files = await resolveInputs(inputs, { quiet: c.quiet });
  // Validate everything first so a bad record never leaves a half-pushed dataset.
  if (kind) for (const f of files) for await (const _ of readAny(f, { kind, onInvalid: "error", encoding }));
  async function* records() {
    for (const f of files) for await (const r of readAny(f, { onInvalid: "error", encoding })) yield r.record as Record<string, unknown>;
  }
  const card = {
    ...(o.prettyName ? { prettyName: o.prettyName } : {}),
    ...(o.language ? { language: o.language } : {}),
    ...(o.taskCategory ? { taskCategories: o.taskCategory } : {}),
    ...(o.sourceDataset ? { sourceDatasets: o.sourceDataset } : {}),
    ...commonCard(o, reports),
  };
  const { pushDataset } = await import("@sfmed/schema/hub");
  const bar = uploadBar(c.quiet);
  const res = await pushDataset({ repo, splits: { [o.split]: records() }, ...(maxShardBytes ? { maxShardBytes } : {}), ...hubOptions(o), onProgress: bar.onProgress, card }).finally(() => bar.stop());
  const s = res.splits[0]!;
  c.info(`push: ${s.records} records in ${s.files.length} shard${s.files.length > 1 ? "s" : ""} → ${repo} (${landed(res)})`);
}

type ModelFlags = CommonFlags & { baseModel?: string[]; dataset?: string[]; results?: string };

async function pushModelCommand(c: CliContext, dir: string, repoIn: string, o: ModelFlags): Promise<void> {
  const repo = repoArg(repoIn);
  const results = await readResults(o.results);
  const reports = await summarizeReports(o.report);
  const card = {
    ...(o.baseModel ? { baseModel: o.baseModel.length === 1 ? o.baseModel[0]! : o.baseModel } : {}),
    ...(o.dataset ? { datasets: o.dataset } : {}),
    ...(results ? { results } : {}),
    ...commonCard(o, reports),
  };
  const { pushModel } = await import("@sfmed/schema/hub");
  const bar = uploadBar(c.quiet);
  const res = await pushModel({ repo, dir, ...hubOptions(o), onProgress: bar.onProgress, card }).finally(() => bar.stop());
  c.info(`push: ${res.files.length} files → ${repo} (${landed(res)})`);
}

export const register: Register = (program, ctx) => {
  const push = program.command("push").description("push records (as a Parquet dataset) or a checkpoint to the Hugging Face Hub, with a card (token: HF_TOKEN or $HF_HOME/token)");
  commonOptions(
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
  ).action((args: string[], o: DatasetFlags) => pushDatasetCommand(ctx(), args, o));
  commonOptions(
    push
      .command("model")
      .description("push a checkpoint folder (safetensors, config, tokenizer; training state left out) with a model card")
      .argument("<dir>", "checkpoint folder")
      .argument("<repo>", "Hub repo ORG/NAME")
      .option("--base-model <id...>", "Hub id(s) of the model(s) it was trained or merged from (card base_model)")
      .option("--dataset <id...>", "Hub ids of the training data")
      .option("--results <file>", "JSON array of {task, dataset: {name, type, split?}, metrics: [{type, value, name?}]} for the card's model-index"),
  ).action((dir: string, repo: string, o: ModelFlags) => pushModelCommand(ctx(), dir, repo, o));
};
