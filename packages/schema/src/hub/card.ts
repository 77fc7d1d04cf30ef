/**
 * Dataset and model cards as the Hub reads them: README.md with YAML front matter (the metadata the Hub indexes:
 * license, language, task_categories, size_categories, configs, base_model, model-index …) and a Markdown body.
 * Pure functions: metadata in, Markdown out.
 */

type Yaml = string | number | boolean | null | undefined | Yaml[] | { [k: string]: Yaml };

/** YAML 1.2 block style; strings are JSON-quoted (valid YAML), so no value can break the document. */
function yamlLines(value: Yaml, indent: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}[]`];
    return value.flatMap((v) => {
      if (v !== null && typeof v === "object") {
        const inner = yamlLines(v, indent + "  ");
        return [`${indent}- ${inner[0]!.trimStart()}`, ...inner.slice(1)];
      }
      return [`${indent}- ${scalar(v)}`];
    });
  }
  if (value !== null && typeof value === "object") {
    const out: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const key = /^[A-Za-z_][\w-]*$/.test(k) ? k : JSON.stringify(k);
      if (v !== null && typeof v === "object" && !(Array.isArray(v) && v.length === 0) && !(!Array.isArray(v) && Object.keys(v).length === 0)) {
        out.push(`${indent}${key}:`, ...yamlLines(v, Array.isArray(v) ? indent : indent + "  "));
      } else out.push(`${indent}${key}: ${Array.isArray(v) ? "[]" : v !== null && typeof v === "object" ? "{}" : scalar(v)}`);
    }
    return out;
  }
  return [`${indent}${scalar(value)}`];
}

const scalar = (v: Yaml): string => (typeof v === "number" ? (Number.isFinite(v) ? String(v) : JSON.stringify(String(v))) : typeof v === "boolean" ? String(v) : v == null ? "null" : JSON.stringify(v));

/** Markdown with `---` YAML front matter. */
export function withFrontMatter(meta: Record<string, Yaml>, body: string): string {
  return `---\n${yamlLines(meta, "").join("\n")}\n---\n\n${body.trim()}\n`;
}

/** The Hub's size_categories bucket for a record count. */
export function sizeCategory(n: number): string {
  const buckets: Array<[number, string]> = [
    [1e3, "n<1K"],
    [1e4, "1K<n<10K"],
    [1e5, "10K<n<100K"],
    [1e6, "100K<n<1M"],
    [1e7, "1M<n<10M"],
    [1e8, "10M<n<100M"],
    [1e9, "100M<n<1B"],
    [1e10, "1B<n<10B"],
    [1e11, "10B<n<100B"],
    [1e12, "100B<n<1T"],
  ];
  return buckets.find(([max]) => n < max)?.[1] ?? "n>1T";
}

/** A split as pushed: its name, record count and shard paths in the repo. */
export interface CardSplit {
  name: string;
  records: number;
  files: string[];
}

/** What a dataset card says. */
export interface DatasetCardInfo {
  /** `org/name` */
  repo: string;
  prettyName?: string | undefined;
  /** SPDX-like id the Hub knows (`apache-2.0`, `cc-by-nc-4.0`, `other` …). @default "other" */
  license?: string | undefined;
  /** @default ["zh"] */
  language?: string[] | undefined;
  /** @default ["text-generation", "question-answering"] */
  taskCategories?: string[] | undefined;
  /** Hub ids or names of the datasets this one was built from. */
  sourceDatasets?: string[] | undefined;
  tags?: string[] | undefined;
  splits: CardSplit[];
  /** Free text placed after the title. */
  description?: string | undefined;
  /** The sfmed command lines that produced the data, in order. */
  commands?: string[] | undefined;
  /** Reports (dedup, validate, stats …) to name, as `name → short summary`. */
  reports?: Record<string, string> | undefined;
}

/** The dataset card (README.md) for a pushed dataset: front matter the Hub indexes, `configs` pointing at the shards. */
export function writeDatasetCard(info: DatasetCardInfo): string {
  const total = info.splits.reduce((a, s) => a + s.records, 0);
  const meta: Record<string, Yaml> = {
    license: info.license ?? "other",
    language: info.language ?? ["zh"],
    task_categories: info.taskCategories ?? ["text-generation", "question-answering"],
    size_categories: [sizeCategory(total)],
    source_datasets: info.sourceDatasets && info.sourceDatasets.length ? info.sourceDatasets : ["original"],
    tags: info.tags ?? ["medical", "sfmed"],
    pretty_name: info.prettyName ?? info.repo.split("/")[1]!,
    configs: [{ config_name: "default", data_files: info.splits.map((s) => ({ split: s.name, path: `data/${s.name}-*` })) }],
  };
  const lines = [`# ${info.prettyName ?? info.repo}`, ""];
  if (info.description) lines.push(info.description.trim(), "");
  lines.push("## Data", "", "| split | records | files |", "| --- | ---: | ---: |");
  for (const s of info.splits) lines.push(`| ${s.name} | ${s.records} | ${s.files.length} |`);
  lines.push("", "Records are sfmed canonical records (`@sfmed/schema`), stored as Parquet shards `data/{split}-NNNNN-of-NNNNN.parquet`.", "");
  if (info.commands?.length) lines.push("## How it was made", "", "```sh", ...info.commands, "```", "");
  if (info.reports && Object.keys(info.reports).length) {
    lines.push("## Reports", "");
    for (const [name, summary] of Object.entries(info.reports)) lines.push(`- **${name}**: ${summary}`);
    lines.push("");
  }
  lines.push(
    "## Use",
    "",
    "```python",
    "from datasets import load_dataset",
    `ds = load_dataset("${info.repo}")`,
    "```",
    "",
    "```sh",
    `sfmed stats "hf://datasets/${info.repo}/data/*.parquet"`,
    "```",
  );
  return withFrontMatter(meta, lines.join("\n"));
}

/** One evaluation result in the Hub's model-index shape. */
export interface ModelResult {
  /** e.g. `text-generation` */
  task: string;
  dataset: { name: string; type: string; split?: string | undefined };
  metrics: Array<{ type: string; value: number; name?: string | undefined }>;
}

/** What a model card says. */
export interface ModelCardInfo {
  /** `org/name` */
  repo: string;
  /** The checkpoint(s) this model was trained or merged from (Hub ids). */
  baseModel?: string | string[] | undefined;
  license?: string | undefined;
  /** @default ["zh"] */
  language?: string[] | undefined;
  /** Hub ids of the training data. */
  datasets?: string[] | undefined;
  tags?: string[] | undefined;
  results?: ModelResult[] | undefined;
  description?: string | undefined;
  commands?: string[] | undefined;
  reports?: Record<string, string> | undefined;
}

/** The model card (README.md): base_model, model-index with results, and how the model was made. */
export function writeModelCard(info: ModelCardInfo): string {
  const name = info.repo.split("/")[1]!;
  const meta: Record<string, Yaml> = {
    license: info.license ?? "other",
    language: info.language ?? ["zh"],
    library_name: "transformers",
    pipeline_tag: "text-generation",
    base_model: info.baseModel,
    datasets: info.datasets?.length ? info.datasets : undefined,
    tags: info.tags ?? ["medical", "sfmed"],
    "model-index": [
      {
        name,
        results: (info.results ?? []).map((r) => ({
          task: { type: r.task },
          dataset: { name: r.dataset.name, type: r.dataset.type, ...(r.dataset.split ? { split: r.dataset.split } : {}) },
          metrics: r.metrics.map((m) => ({ type: m.type, value: m.value, ...(m.name ? { name: m.name } : {}) })),
        })),
      },
    ],
  };
  const lines = [`# ${name}`, ""];
  if (info.description) lines.push(info.description.trim(), "");
  if (info.baseModel) lines.push(`Base model: ${[info.baseModel].flat().map((b) => `[${b}](https://huggingface.co/${b})`).join(", ")}.`, "");
  if (info.results?.length) {
    lines.push("## Results", "", "| dataset | metric | value |", "| --- | --- | ---: |");
    for (const r of info.results) for (const m of r.metrics) lines.push(`| ${r.dataset.name} | ${m.name ?? m.type} | ${m.value} |`);
    lines.push("");
  }
  if (info.commands?.length) lines.push("## How it was made", "", "```sh", ...info.commands, "```", "");
  if (info.reports && Object.keys(info.reports).length) {
    lines.push("## Reports", "");
    for (const [n, summary] of Object.entries(info.reports)) lines.push(`- **${n}**: ${summary}`);
    lines.push("");
  }
  lines.push(
    "## Use",
    "",
    "```python",
    "from transformers import AutoModelForCausalLM, AutoTokenizer",
    `tok = AutoTokenizer.from_pretrained("${info.repo}")`,
    `model = AutoModelForCausalLM.from_pretrained("${info.repo}")`,
    "```",
    "",
    "```sh",
    `sfmed serve ${info.repo}`,
    "```",
  );
  return withFrontMatter(meta, lines.join("\n"));
}
