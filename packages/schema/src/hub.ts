/**
 * Hugging Face Hub datasets (subpath `@sfmed/schema/hub`): download files into the standard HF cache layout
 * (`datasets--org--name/{blobs,refs,snapshots}`, shared with Python's huggingface_hub) through
 * `@huggingface/hub`, then read them with the streaming readers.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { datasetInfo, downloadFileToCacheDir, getHFHubCachePath, getRepoFolderName, listFiles } from "@huggingface/hub";
import { SchemaError } from "./errors.js";
import { formatFromName } from "./io/format.js";
import { readRecords, type LocatedRecord, type ReadOptions } from "./io/read-records.js";
import type { RecordKind } from "./records.js";

/** Where and how to reach the Hub. */
export interface HubOptions {
  /** Dataset id, `org/name` (a leading `datasets/` is accepted). */
  repo: string;
  /** Branch, tag or commit sha. @default "main" */
  revision?: string;
  /** Hub endpoint (the library does not read HF_ENDPOINT itself). @default "https://huggingface.co" */
  hubUrl?: string;
  /** Token (`hf_…`), sent as a Bearer header (the library does not read HF_TOKEN itself). */
  accessToken?: string;
  /** Cache root. @default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
  cacheDir?: string;
  /** Custom fetch (proxies, tests). */
  fetch?: typeof fetch;
}

/** Options of {@link downloadDataset}. */
export interface DownloadDatasetOptions extends HubOptions {
  /** Files to fetch (repo-relative). @default every file the repo lists, filtered by `include` */
  paths?: string[];
  /** Keep only listed files whose path matches. @default data files: .jsonl/.json/.csv/.tsv/.parquet (and .gz) */
  include?: RegExp;
  /** Called after each file. */
  onProgress?: (p: { path: string; done: number; total: number }) => void;
}

/** A failed Hub call, with the repo and (when known) the HTTP status. */
export class HubError extends SchemaError {
  override readonly name = "HubError";
  constructor(
    message: string,
    readonly repo: string,
    readonly statusCode?: number,
    cause?: unknown,
  ) {
    super(`${repo}: ${message}`, { code: "HUB_ERROR", cause });
  }
}

const DATA_FILES = /\.(jsonl|ndjson|json|csv|tsv|parquet)(\.gz)?$/i;
const SHA = /^[0-9a-f]{40}$/;

function datasetName(repo: string): string {
  return repo.replace(/^datasets\//, "");
}

function hubParams(o: HubOptions) {
  return {
    ...(o.hubUrl ? { hubUrl: o.hubUrl } : {}),
    ...(o.accessToken ? { accessToken: o.accessToken } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
  };
}

// @huggingface/hub announces every download with console.debug; library code here must not print.
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const original = console.debug;
  console.debug = () => {};
  try {
    return await fn();
  } finally {
    console.debug = original;
  }
}

function wrap(err: unknown, repo: string): never {
  if (err instanceof SchemaError) throw err;
  const status = (err as { statusCode?: number }).statusCode;
  throw new HubError((err as Error).message ?? String(err), repo, status, err);
}

/**
 * Download dataset files into the HF cache and return their local paths. The revision is first resolved to its
 * commit sha, files are stored under `snapshots/<sha>/` and `refs/<revision>` is written, so Python's
 * huggingface_hub finds the same files offline. Files already in the cache are not fetched again.
 *
 * @throws {HubError} on any Hub failure (unknown repo or file, auth), with the HTTP status when there is one
 */
export async function downloadDataset(opts: DownloadDatasetOptions): Promise<{ sha: string; snapshot: string; files: string[] }> {
  const name = datasetName(opts.repo);
  const repo = { type: "dataset" as const, name };
  const revision = opts.revision ?? "main";
  const cacheDir = opts.cacheDir ?? getHFHubCachePath();
  try {
    const sha = SHA.test(revision) ? revision : (await datasetInfo({ name, revision, additionalFields: ["sha"], ...hubParams(opts) })).sha;
    if (!sha) throw new HubError(`revision "${revision}" has no commit sha`, name);
    let paths = opts.paths;
    if (!paths) {
      paths = [];
      const include = opts.include ?? DATA_FILES;
      for await (const f of listFiles({ repo, revision: sha, recursive: true, ...hubParams(opts) })) {
        if (f.type === "file" && include.test(f.path)) paths.push(f.path);
      }
      paths.sort();
    }
    const files: string[] = [];
    for (const [i, p] of paths.entries()) {
      files.push(await quietly(() => downloadFileToCacheDir({ repo, path: p, revision: sha, cacheDir, ...hubParams(opts) })));
      opts.onProgress?.({ path: p, done: i + 1, total: paths.length });
    }
    const storage = path.join(cacheDir, getRepoFolderName(repo));
    if (revision !== sha) {
      await mkdir(path.join(storage, "refs", path.dirname(revision)), { recursive: true });
      const ref = path.join(storage, "refs", revision);
      const old = await readFile(ref, "utf8").catch(() => "");
      if (old !== sha) await writeFile(ref, sha);
    }
    return { sha, snapshot: path.join(storage, "snapshots", sha), files };
  } catch (err) {
    return wrap(err, name);
  }
}

/** Options of {@link readHubRecords}: where the file is, and how to read it. */
export type ReadHubRecordsOptions = HubOptions & Omit<ReadOptions, "onProgress"> & { path: string; kind?: RecordKind | undefined };

/**
 * Download one dataset file (cached) and stream its records with line numbers; Parquet files are read with
 * `@sfmed/schema/parquet`. Validation and `onInvalid` work as in {@link readRecords}.
 *
 * @throws {HubError} when the download fails; reader errors as in {@link readRecords}
 */
export async function* readHubRecords(opts: ReadHubRecordsOptions): AsyncGenerator<LocatedRecord<unknown>> {
  const { files } = await downloadDataset({ ...opts, paths: [opts.path] });
  const file = files[0]!;
  const read = {
    ...(opts.kind ? { kind: opts.kind } : {}),
    ...(opts.onInvalid ? { onInvalid: opts.onInvalid } : {}),
    ...(opts.rejects ? { rejects: opts.rejects } : {}),
  };
  if (formatFromName(opts.path) === "parquet") {
    const { readParquet } = await import("./parquet.js");
    yield* readParquet(file, read);
    return;
  }
  yield* readRecords(file, { ...read, ...(opts.format ? { format: opts.format } : {}), ...(opts.encoding ? { encoding: opts.encoding } : {}) });
}
