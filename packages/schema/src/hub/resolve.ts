import { readdir } from "node:fs/promises";
import path from "node:path";
import { loadPeer } from "../missing-peer.js";
import { cachedFile, repoStorage, resolveRevision, type DownloadProgress, type FileMeta } from "./cache.js";
import { asHubError, hubClient, type HubClient, type HubClientOptions } from "./client.js";
import { HubError, HubOfflineError } from "./errors.js";
import { globBase, globToRegExp, hasGlob, isHfUri, parseHfUri, parseRepoId, type HubRef, type HubRepoType } from "./uri.js";

/** Data files a folder URI (`hf://datasets/org/name/data/`) resolves to. */
export const DATA_FILES = /\.(jsonl|ndjson|json|csv|tsv|parquet|txt)(\.gz)?$/i;

/** What a model snapshot needs for merging, serving and training: weights, config and tokenizer. */
export const MODEL_FILES: readonly string[] = [
  "*.safetensors",
  "*.safetensors.index.json",
  "config.json",
  "generation_config.json",
  "tokenizer*",
  "vocab.*",
  "merges.txt",
  "special_tokens_map.json",
  "added_tokens.json",
  "chat_template.jinja",
];

/** Options of the resolvers: the Hub and cache (environment by default), progress and retries. */
export interface ResolveOptions extends HubClientOptions {
  /** Called as bytes arrive (`done` files finished so far of `files`), and once per finished file with `finished`. */
  onProgress?: ((p: DownloadProgress & { done: number; files: number; finished?: boolean }) => void) | undefined;
  /** Network failures retried (each resuming where the last stopped). @default 3 */
  retries?: number | undefined;
}

/** Files resolved from the Hub: local paths (snapshot symlinks) in the same order as their repo paths. */
export interface ResolvedFiles {
  type: HubRepoType;
  repo: string;
  /** The commit the files were read at. */
  sha: string;
  /** `…/snapshots/<sha>` */
  snapshot: string;
  /** Repo-relative paths. */
  paths: string[];
  /** Local paths, one per entry of `paths`. */
  files: string[];
}

async function hubLib() {
  return loadPeer("@huggingface/hub", "Hub access (@sfmed/schema/hub)", () => import("@huggingface/hub"));
}

/** List the repo's files at `sha` under `base` (recursive), through `@huggingface/hub`'s listFiles. */
async function listRepo(c: HubClient, ref: HubRef, sha: string, base: string): Promise<Array<{ path: string; meta: FileMeta }>> {
  const { listFiles } = await hubLib();
  const out: Array<{ path: string; meta: FileMeta }> = [];
  try {
    for await (const f of listFiles({
      repo: { type: ref.type, name: ref.repo },
      revision: sha,
      ...(base ? { path: base } : {}),
      recursive: true,
      hubUrl: c.endpoint,
      ...(c.token ? { accessToken: c.token } : {}),
      fetch: c.fetch,
    })) {
      if (f.type !== "file") continue;
      const lfs = f.lfs as { oid: string; size: number } | undefined;
      out.push({ path: f.path, meta: { etag: lfs?.oid ?? f.oid ?? "", size: lfs?.size ?? f.size, lfs: Boolean(lfs), commit: sha } });
    }
  } catch (err) {
    throw asHubError(err, ref.repo, `listing ${base || "/"}@${sha}`, c);
  }
  return out;
}

/** Files under the cached snapshot (offline listing). */
async function listSnapshot(dir: string, prefix = ""): Promise<string[]> {
  const entries = await readdir(path.join(dir, prefix), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listSnapshot(dir, rel)));
    else if (!e.name.endsWith(".tmp")) out.push(rel);
  }
  return out;
}

/**
 * Which files a ref's path selects at `sha` — a glob, a folder (`""` or ending in `/`: its data files) or one file —
 * from the Hub's tree listing (offline: the cached snapshot), without downloading anything.
 */
export async function selectFiles(c: HubClient, ref: HubRef, sha: string, filter?: (p: string) => boolean): Promise<Array<{ path: string; meta?: FileMeta }>> {
  const folder = ref.path === "" || ref.path.endsWith("/");
  if (!hasGlob(ref.path) && !folder && !filter) return [{ path: ref.path }];
  const base = folder ? ref.path.replace(/\/+$/, "") : globBase(ref.path);
  const match = filter ?? (folder ? (p: string) => DATA_FILES.test(p) : (p: string) => globToRegExp(ref.path).test(p));
  let listed: Array<{ path: string; meta?: FileMeta }>;
  if (c.offline) {
    const snap = path.join(repoStorage(c, ref.type, ref.repo), "snapshots", sha);
    listed = (await listSnapshot(snap, base)).map((p) => ({ path: p }));
  } else listed = await listRepo(c, ref, sha, base);
  const chosen = listed.filter((f) => match(f.path));
  chosen.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (chosen.length === 0) {
    const what = `file matching "${ref.path || "*"}" at ${ref.revision} (${sha})`;
    if (c.offline) throw new HubOfflineError(ref.repo, what);
    throw new HubError(`no ${what}`, ref.repo, undefined, undefined, "HUB_NO_MATCH");
  }
  return chosen;
}

async function fetchAll(c: HubClient, ref: HubRef, sha: string, chosen: Array<{ path: string; meta?: FileMeta }>, o: ResolveOptions): Promise<ResolvedFiles> {
  const files: string[] = [];
  for (const [i, f] of chosen.entries()) {
    files.push(
      await cachedFile(c, ref.type, ref.repo, sha, f.path, {
        meta: f.meta,
        retries: o.retries,
        onProgress: o.onProgress ? (p) => o.onProgress!({ ...p, done: i, files: chosen.length }) : undefined,
      }),
    );
    o.onProgress?.({ path: f.path, bytes: f.meta?.size ?? 0, total: f.meta?.size, done: i + 1, files: chosen.length, finished: true });
  }
  const snapshot = path.join(repoStorage(c, ref.type, ref.repo), "snapshots", sha);
  return { type: ref.type, repo: ref.repo, sha, snapshot, paths: chosen.map((f) => f.path), files };
}

/**
 * Resolve `hf://datasets/ORG/NAME[@REV]/PATH-OR-GLOB` (or a parsed {@link HubRef}) to local files in the
 * huggingface_hub cache, downloading what is missing. A glob expands through the Hub's tree listing (offline: the
 * cached snapshot); a path ending in `/` selects the data files under it. A second run finds everything cached.
 *
 * @throws {HubOfflineError} with HF_HUB_OFFLINE set and the cache lacking a ref or file (named in `missing`)
 * @throws {HubAuthError} for a gated/private repo without a usable token; {@link HubError} for other failures
 */
export async function resolveHubFiles(uri: string | HubRef, opts: ResolveOptions = {}): Promise<ResolvedFiles> {
  const ref = typeof uri === "string" ? parseHfUri(uri) : uri;
  const c = hubClient(opts);
  const sha = await resolveRevision(c, ref.type, ref.repo, ref.revision);
  return fetchAll(c, ref, sha, await selectFiles(c, ref, sha), opts);
}

/** Options of {@link snapshotDownload}. */
export interface SnapshotOptions extends ResolveOptions {
  /** Globs (fnmatch style, `*` crosses `/` as in huggingface_hub's allow_patterns) of files to fetch. @default every file */
  allowPatterns?: readonly string[] | undefined;
  /** Keep only repo paths this accepts (with `allowPatterns`, both must accept). */
  filter?: ((repoPath: string) => boolean) | undefined;
}

const fnmatch = (pattern: string) => new RegExp("^" + pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");

/**
 * Download a repo's files (those matching `allowPatterns`) into the cache and return `snapshots/<sha>`, as
 * huggingface_hub's `snapshot_download`. Offline, the cached snapshot of the ref is returned when present.
 */
export async function snapshotDownload(ref: HubRef, opts: SnapshotOptions = {}): Promise<ResolvedFiles> {
  const c = hubClient(opts);
  const sha = await resolveRevision(c, ref.type, ref.repo, ref.revision);
  const res = opts.allowPatterns?.map(fnmatch);
  const filter = (p: string) => (!res || res.some((r) => r.test(p))) && (!opts.filter || opts.filter(p));
  return fetchAll(c, ref, sha, await selectFiles(c, { ...ref, path: "" }, sha, filter), opts);
}

/**
 * A model argument as commands take it: an existing local folder is returned as is; `ORG/NAME[@REV]` or
 * `hf://ORG/NAME[@REV]` is fetched ({@link MODEL_FILES}) and its snapshot folder returned.
 * @param exists whether `arg` is a local path (the caller checks, so the library does not guess)
 */
export async function resolveModel(arg: string, exists: boolean, opts: SnapshotOptions = {}): Promise<string> {
  if (exists && !isHfUri(arg)) return arg;
  const ref = parseRepoId(arg, "model");
  if (!ref) return arg;
  const snap = await snapshotDownload(ref, { allowPatterns: MODEL_FILES, ...opts });
  return ref.path ? path.join(snap.snapshot, ref.path) : snap.snapshot;
}
