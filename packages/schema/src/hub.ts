/**
 * Hugging Face Hub access (subpath `@sfmed/schema/hub`): `hf://datasets/ORG/NAME[@REV]/PATH-OR-GLOB` and model ids
 * resolve to files in the standard huggingface_hub cache (shared with Python, offline on a second run), the
 * environment is read as huggingface_hub reads it (HF_TOKEN, HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE),
 * and datasets/models are pushed with a card. `@huggingface/hub` is loaded only when a call needs it.
 */
import { formatFromName } from "./io/format.js";
import { readRecords, type LocatedRecord, type ReadOptions } from "./io/read-records.js";
import type { RecordKind, RecordOf } from "./records.js";
import path from "node:path";
import { DATA_FILES, resolveHubFiles, snapshotDownload, type ResolveOptions } from "./hub/resolve.js";
import { hubClient, type HubClientOptions } from "./hub/client.js";
import { repoFolderName, resolveRevision } from "./hub/cache.js";

export { hubEnv, maskToken, type HubEnv } from "./hub/env.js";
export { HubError, HubAuthError, HubOfflineError } from "./hub/errors.js";
export { parseHfUri, parseRepoId, isHfUri, globToRegExp, hasGlob, type HubRef, type HubRepoType } from "./hub/uri.js";
export { hubClient, type HubClient, type HubClientOptions } from "./hub/client.js";
export { repoFolderName, resolveRevision, headFile, cachedFile, COMMIT_SHA, type FileMeta, type DownloadProgress } from "./hub/cache.js";
export { writeDatasetCard, writeModelCard, sizeCategory, type DatasetCardInfo, type ModelCardInfo, type ModelResult, type CardSplit } from "./hub/card.js";
export { pushDataset, pushModel, type PushOptions, type PushResult, type PushDatasetOptions, type PushModelOptions } from "./hub/push.js";
export { readHubParquet, parquetConversionUri, PARQUET_CONVERSION, type ReadHubParquetOptions } from "./hub/remote-parquet.js";
export { resolveHubFiles, selectFiles, snapshotDownload, resolveModel, DATA_FILES, MODEL_FILES, type ResolveOptions, type ResolvedFiles, type SnapshotOptions } from "./hub/resolve.js";

/** Where and how to reach the Hub (the older, repo-centred form of {@link HubClientOptions}). */
export interface HubOptions {
  /** Dataset id, `org/name` (a leading `datasets/` is accepted). */
  repo: string;
  /** Branch, tag or commit sha. @default "main" */
  revision?: string;
  /** Hub endpoint. @default HF_ENDPOINT, else "https://huggingface.co" */
  hubUrl?: string;
  /** Token (`hf_…`). @default HF_TOKEN, else $HF_HOME/token */
  accessToken?: string;
  /** Cache root. @default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
  cacheDir?: string;
  /** Custom fetch (proxies, tests). */
  fetch?: typeof fetch;
  /** The environment the other defaults (HF_HUB_OFFLINE included) are read from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** Options of {@link downloadDataset}. */
export interface DownloadDatasetOptions extends HubOptions {
  /** Files to fetch (repo-relative). @default every file the repo lists, filtered by `include` */
  paths?: string[];
  /** Keep only listed files whose path matches. @default data files: .jsonl/.json/.csv/.tsv/.parquet/.txt (and .gz) */
  include?: RegExp;
  /** Called after each file. */
  onProgress?: (p: { path: string; done: number; total: number }) => void;
}

function clientOptions(o: HubOptions): HubClientOptions {
  return {
    ...(o.hubUrl ? { endpoint: o.hubUrl } : {}),
    ...(o.accessToken ? { token: o.accessToken } : {}),
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.env ? { env: o.env } : {}),
  };
}

/**
 * Download dataset files into the HF cache and return their local paths: the revision is resolved to its commit,
 * files land under `snapshots/<sha>/` and `refs/<revision>` is written, so Python's huggingface_hub finds them.
 *
 * @throws {HubError} on any Hub failure (unknown repo or file, auth), with the HTTP status when there is one
 */
export async function downloadDataset(opts: DownloadDatasetOptions): Promise<{ sha: string; snapshot: string; files: string[] }> {
  const repo = opts.repo.replace(/^datasets\//, "");
  const revision = opts.revision ?? "main";
  const base: ResolveOptions = clientOptions(opts);
  if (opts.onProgress) {
    const cb = opts.onProgress;
    base.onProgress = (p) => {
      if (p.finished) cb({ path: p.path, done: p.done, total: p.files });
    };
  }
  const c = hubClient(base);
  if (opts.paths) {
    const sha = await resolveRevision(c, "dataset", repo, revision);
    const files: string[] = [];
    for (const p of opts.paths) files.push(...(await resolveHubFiles({ type: "dataset", repo, revision: sha, path: p }, base)).files);
    return { sha, snapshot: path.join(c.cacheDir, repoFolderName("dataset", repo), "snapshots", sha), files };
  }
  const include = opts.include ?? DATA_FILES;
  const r = await snapshotDownload({ type: "dataset", repo, revision, path: "" }, { ...base, filter: (p) => include.test(p) });
  return { sha: r.sha, snapshot: r.snapshot, files: r.files };
}

/** Options of {@link readHubRecords}: where the file is, and how to read it. */
export type ReadHubRecordsOptions = HubOptions & Omit<ReadOptions, "onProgress"> & { path: string; kind?: RecordKind | undefined };

/**
 * Download one dataset file (cached) and stream its records with line numbers; Parquet files are read with
 * `@sfmed/schema/parquet`. Validation and `onInvalid` work as in {@link readRecords}.
 *
 * @throws {HubError} when the download fails; reader errors as in {@link readRecords}
 */
export function readHubRecords<K extends RecordKind>(opts: ReadHubRecordsOptions & { kind: K }): AsyncGenerator<LocatedRecord<RecordOf<K>>>;
export function readHubRecords(opts: ReadHubRecordsOptions): AsyncGenerator<LocatedRecord<unknown>>;
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
