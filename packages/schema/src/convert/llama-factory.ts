import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { ParseError, ValidationError } from "../errors.js";
import type { Dialogue } from "../records.js";
import { ALPACA_COLUMNS, alpacaMessages, passThrough, type AlpacaColumns } from "./alpaca.js";
import { asObject, defineConverter, inputFiles, verbatimId } from "./converter.js";
import { SHAREGPT_TAGS, shareGptMessages, type ShareGptTags } from "./sharegpt.js";

/** One entry of LLaMA-Factory's `dataset_info.json`, as far as local data goes. */
export interface DatasetInfoEntry {
  file_name?: string;
  formatting?: "alpaca" | "sharegpt";
  ranking?: boolean;
  columns?: Record<string, string>;
  tags?: Record<string, string>;
}

/** How rows of one dataset are read. */
interface LfTag {
  dataset: string;
  formatting: "alpaca" | "sharegpt";
  columns: AlpacaColumns;
  tags: ShareGptTags;
}

function lfTag(dataset: string, entry: DatasetInfoEntry): LfTag {
  const c = entry.columns ?? {};
  const t = entry.tags ?? {};
  const columns: AlpacaColumns = {
    prompt: c.prompt ?? ALPACA_COLUMNS.prompt,
    query: c.query ?? ALPACA_COLUMNS.query,
    response: c.response ?? ALPACA_COLUMNS.response,
    history: c.history ?? ALPACA_COLUMNS.history,
    system: c.system ?? ALPACA_COLUMNS.system,
  };
  const tags: ShareGptTags = {
    messages: c.messages ?? SHAREGPT_TAGS.messages,
    system: c.system ?? SHAREGPT_TAGS.system,
    roleTag: t.role_tag ?? SHAREGPT_TAGS.roleTag,
    contentTag: t.content_tag ?? SHAREGPT_TAGS.contentTag,
    userTag: t.user_tag ?? SHAREGPT_TAGS.userTag,
    assistantTag: t.assistant_tag ?? SHAREGPT_TAGS.assistantTag,
    systemTag: t.system_tag ?? SHAREGPT_TAGS.systemTag,
  };
  return { dataset, formatting: entry.formatting ?? "alpaca", columns, tags };
}

/**
 * The data files of a LLaMA-Factory input: a `dataset_info.json` (or a directory holding one) lists datasets;
 * every entry with a local `file_name` (a file or a folder of files) and no `ranking` flag is converted with its
 * `formatting`, `columns` and `tags`. Entries that point at a hub (`hf_hub_url`, `ms_hub_url`, …) hold no local
 * data; ranking entries are preference data, not dialogues: both are listed by {@link llamaFactoryPlan} and not read.
 * A plain data file is read with the default columns, in ShareGPT style when its rows have `conversations` or
 * `messages`, else Alpaca style.
 */
export async function llamaFactoryPlan(input: string): Promise<{ files: Array<{ file: string; tag: LfTag | undefined }>; skipped: Array<{ dataset: string; reason: string }> }> {
  let info = input;
  if ((await stat(input)).isDirectory()) info = path.join(input, "dataset_info.json");
  else if (path.basename(input) !== "dataset_info.json") return { files: [{ file: input, tag: undefined }], skipped: [] };
  if (!existsSync(info)) throw new ValidationError("no dataset_info.json in this directory", { file: input });
  let parsed: Record<string, DatasetInfoEntry>;
  try {
    parsed = JSON.parse(await readFile(info, "utf8")) as Record<string, DatasetInfoEntry>;
  } catch (cause) {
    throw new ParseError(`invalid dataset_info.json: ${(cause as Error).message}`, { file: info, cause });
  }
  const files: Array<{ file: string; tag: LfTag }> = [];
  const skipped: Array<{ dataset: string; reason: string }> = [];
  for (const [dataset, entry] of Object.entries(parsed)) {
    if (!entry.file_name) {
      skipped.push({ dataset, reason: "no local file_name (hub dataset)" });
      continue;
    }
    if (entry.ranking) {
      skipped.push({ dataset, reason: "ranking (preference) dataset" });
      continue;
    }
    if (entry.formatting && entry.formatting !== "alpaca" && entry.formatting !== "sharegpt") {
      skipped.push({ dataset, reason: `unsupported formatting "${String(entry.formatting)}"` });
      continue;
    }
    const p = path.join(path.dirname(info), entry.file_name);
    if (!existsSync(p)) throw new ValidationError(`dataset "${dataset}" file is missing: ${entry.file_name}`, { file: info, field: `${dataset}.file_name` });
    for (const f of await inputFiles(p, [".json", ".jsonl", ".csv"])) files.push({ file: f, tag: lfTag(dataset, entry) });
  }
  if (!files.length) throw new ValidationError("dataset_info.json lists no local, non-ranking datasets", { file: info });
  return { files, skipped };
}

/** `llama-factory`: a dataset_info.json (alpaca and sharegpt styles with column/tag mappings) or one data file → Dialogue. */
export const llamaFactory = defineConverter<"dialogue", LfTag | undefined>({
  name: "llama-factory",
  kind: "dialogue",
  description: "LLaMA-Factory datasets (dataset_info.json: alpaca/sharegpt formatting, columns, tags) → Dialogue",
  async files(input) {
    return (await llamaFactoryPlan(input)).files;
  },
  map(value, ctx): Dialogue {
    const obj = asObject(value, ctx);
    const tag = ctx.tag;
    const sharegptStyle = tag ? tag.formatting === "sharegpt" : Array.isArray(obj.conversations) || Array.isArray(obj.messages);
    const dataset = tag?.dataset ?? ctx.stem;
    return {
      id: verbatimId(obj.id) ?? `llama-factory:${dataset}:${ctx.index}`,
      source: tag ? dataset : "llama-factory",
      ...passThrough(obj),
      messages: sharegptStyle ? shareGptMessages(obj, ctx, tag?.tags) : alpacaMessages(obj, ctx, tag?.columns),
    };
  },
});
