// What `sfmed push dataset|model` share: the repo argument, card summaries of reports, upload progress, Hub options.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ModelResult } from "@sfmed/schema/hub";
import type { Command } from "commander";
import { UsageError } from "../context.js";
import { createProgress, type Progress } from "../progress.js";

export interface CommonFlags {
  private?: boolean;
  revision?: string;
  createPr?: boolean;
  message?: string;
  license?: string;
  command?: string[];
  report?: string[];
}

const REPO = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function repoArg(repo: string | undefined): string {
  if (!repo || !REPO.test(repo)) throw new UsageError(`the last argument must be the Hub repo ORG/NAME, got "${repo ?? ""}"`);
  return repo;
}

/** One line per report: its file name and its top-level numbers (counts, rates) as a summary. */
export async function summarizeReports(files: string[] | undefined): Promise<Record<string, string> | undefined> {
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

export function uploadBar(quiet: boolean) {
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

export function hubOptions(o: CommonFlags) {
  return {
    ...(o.private ? { private: true } : {}),
    ...(o.revision ? { revision: o.revision } : {}),
    ...(o.createPr ? { createPr: true } : {}),
    ...(o.message ? { commitMessage: o.message } : {}),
  };
}

/** The card's model-index results from `--results FILE`, checked for shape. */
export async function readResults(file: string | undefined): Promise<ModelResult[] | undefined> {
  if (!file) return undefined;
  let results: ModelResult[];
  try {
    results = JSON.parse(await readFile(file, "utf8")) as ModelResult[];
  } catch (err) {
    throw new UsageError(`--results ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(results) || !results.every((r) => r && typeof r.task === "string" && r.dataset && Array.isArray(r.metrics))) {
    throw new UsageError(`--results ${file}: expected an array of {task, dataset: {name, type}, metrics: [{type, value}]}`);
  }
  return results;
}

/** Card fields every push takes from the common flags. */
export function commonCard(o: CommonFlags, reports: Record<string, string> | undefined) {
  return { ...(o.license ? { license: o.license } : {}), ...(o.command ? { commands: o.command } : {}), ...(reports ? { reports } : {}) };
}

export function commonOptions(cmd: Command): Command {
  return cmd
    .option("--private", "create the repo private (an existing repo keeps its visibility)")
    .option("--revision <branch>", "branch to commit to (default main; it must exist)")
    .option("--create-pr", "open a pull request instead of committing to the branch")
    .option("-m, --message <title>", "commit title")
    .option("--license <id>", "license id for the card, e.g. apache-2.0, cc-by-nc-4.0 (default other)")
    .option("--command <line...>", "sfmed command lines that made it, listed in the card")
    .option("--report <file...>", "JSON reports (dedup, validate, eval …) named and summarised in the card");
}

/** Where the push landed: a pull request or a commit. */
export const landed = (res: { pullRequestUrl?: string | undefined; commit: string }) => (res.pullRequestUrl ? `pull request ${res.pullRequestUrl}` : `commit ${res.commit.slice(0, 10)}`);
