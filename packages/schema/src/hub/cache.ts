/**
 * The huggingface_hub cache layout, shared with Python: `{type}s--ORG--NAME/blobs/<etag>` holds each file once,
 * `snapshots/<commit>/<path>` are relative symlinks to blobs, `refs/<revision>` holds the commit of a branch or tag.
 * Downloads go to `blobs/<etag>.incomplete` (resumed with an HTTP Range request) and are renamed into place when
 * complete and checked.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { authHeaders, encodePath, hubHttpError, urlPrefix, type HubClient } from "./client.js";
import { HubError, HubOfflineError } from "./errors.js";
import type { HubRepoType } from "./uri.js";

export const COMMIT_SHA = /^[0-9a-f]{40}$/;

/** `datasets--org--name` / `models--org--name`, as huggingface_hub names repo folders. */
export const repoFolderName = (type: HubRepoType, repo: string): string => `${type}s--${repo.split("/").join("--")}`;

export const repoStorage = (c: HubClient, type: HubRepoType, repo: string): string => path.join(c.cacheDir, repoFolderName(type, repo));

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** What the Hub says about one file: the blob name (etag), size, whether it is LFS, and the commit it was read at. */
export interface FileMeta {
  etag: string;
  size: number | undefined;
  lfs: boolean;
  commit: string | undefined;
}

/** Progress of one file's download, in bytes. */
export interface DownloadProgress {
  path: string;
  bytes: number;
  total: number | undefined;
}

/**
 * Resolve a revision (branch, tag or commit) to its commit sha and record it in `refs/<revision>`. Offline, the ref
 * is read from the cache.
 * @throws {HubOfflineError} offline with no cached ref; {@link HubError} on a Hub failure
 */
export async function resolveRevision(c: HubClient, type: HubRepoType, repo: string, revision: string): Promise<string> {
  if (COMMIT_SHA.test(revision)) return revision;
  const refFile = path.join(repoStorage(c, type, repo), "refs", revision);
  if (c.offline) {
    const sha = (await readFile(refFile, "utf8").catch(() => "")).trim();
    if (!COMMIT_SHA.test(sha)) throw new HubOfflineError(repo, `ref "${revision}" (${refFile})`);
    return sha;
  }
  const url = `${c.endpoint}/api/${type}s/${repo}/revision/${encodeURIComponent(revision)}`;
  const res = await c.fetch(url, { headers: { accept: "application/json", ...authHeaders(c) } }).catch((err: unknown) => {
    throw new HubError(`cannot reach ${c.endpoint}: ${(err as Error).message}`, repo, undefined, err, "HUB_UNREACHABLE");
  });
  if (!res.ok) throw hubHttpError(repo, res.status, res.headers.get("x-error-code"), `revision "${revision}"`, Boolean(c.token));
  const sha = ((await res.json()) as { sha?: string }).sha;
  if (!sha || !COMMIT_SHA.test(sha)) throw new HubError(`revision "${revision}" has no commit sha`, repo);
  await writeRef(refFile, sha);
  return sha;
}

async function writeRef(refFile: string, sha: string): Promise<void> {
  const old = await readFile(refFile, "utf8").catch(() => "");
  if (old === sha) return;
  await mkdir(path.dirname(refFile), { recursive: true });
  const tmp = `${refFile}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, sha);
  await rename(tmp, refFile);
}

const unquote = (s: string | null) => (s ?? "").replace(/^W\//, "").replace(/^"|"$/g, "");

/**
 * HEAD the file's resolve URL as huggingface_hub does: a redirect to the CDN (LFS) is not followed, its
 * `X-Linked-Etag`/`X-Linked-Size` name the blob; a relative redirect (renamed repo) is.
 */
export async function headFile(c: HubClient, type: HubRepoType, repo: string, revision: string, file: string): Promise<FileMeta> {
  let url = `${c.endpoint}/${urlPrefix(type)}${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
  for (let hops = 0; ; hops++) {
    const res = await c.fetch(url, { method: "HEAD", redirect: "manual", headers: { "accept-encoding": "identity", ...authHeaders(c) } }).catch((err: unknown) => {
      throw new HubError(`cannot reach ${c.endpoint}: ${(err as Error).message}`, repo, undefined, err, "HUB_UNREACHABLE");
    });
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location && !/^https?:/i.test(location) && hops < 5) {
      url = new URL(location, url).href;
      continue;
    }
    if (res.status >= 400) throw hubHttpError(repo, res.status, res.headers.get("x-error-code"), `${file}@${revision}`, Boolean(c.token));
    const linked = res.headers.get("x-linked-etag");
    const etag = unquote(linked ?? res.headers.get("etag"));
    if (!etag) throw new HubError(`${file}@${revision}: the Hub sent no ETag`, repo);
    const size = Number(res.headers.get("x-linked-size") ?? res.headers.get("content-length") ?? NaN);
    return { etag, size: Number.isFinite(size) ? size : undefined, lfs: linked !== null, commit: res.headers.get("x-repo-commit") ?? undefined };
  }
}

/**
 * Make `snapshots/<sha>/<file>` available, downloading its blob when the cache lacks it. `meta` (from a tree
 * listing) saves the HEAD request.
 * @returns the snapshot path (a symlink into `blobs/`)
 * @throws {HubOfflineError} offline and not cached; {@link HubError} on a Hub failure or a checksum mismatch
 */
export async function cachedFile(
  c: HubClient,
  type: HubRepoType,
  repo: string,
  sha: string,
  file: string,
  opts: { meta?: FileMeta | undefined; retries?: number | undefined; onProgress?: ((p: DownloadProgress) => void) | undefined } = {},
): Promise<string> {
  const storage = repoStorage(c, type, repo);
  const snap = path.join(storage, "snapshots", sha, ...file.split("/"));
  if (await exists(snap)) return snap;
  if (c.offline) throw new HubOfflineError(repo, `file "${file}" at commit ${sha} (${snap})`);
  const meta = opts.meta ?? (await headFile(c, type, repo, sha, file));
  if (!/^[\w.-]+$/.test(meta.etag)) throw new HubError(`${file}: unusable ETag from the Hub`, repo);
  const blob = path.join(storage, "blobs", meta.etag);
  if (!(await exists(blob))) {
    const url = `${c.endpoint}/${urlPrefix(type)}${repo}/resolve/${sha}/${encodePath(file)}`;
    await fetchBlob(c, repo, file, url, blob, meta, opts.retries ?? 3, opts.onProgress);
  }
  await linkSnapshot(blob, snap);
  return snap;
}

async function fetchBlob(
  c: HubClient,
  repo: string,
  file: string,
  url: string,
  blob: string,
  meta: FileMeta,
  retries: number,
  onProgress: ((p: DownloadProgress) => void) | undefined,
): Promise<void> {
  await mkdir(path.dirname(blob), { recursive: true });
  const incomplete = `${blob}.incomplete`;
  for (let attempt = 0; ; attempt++) {
    const have = (await stat(incomplete).catch(() => undefined))?.size ?? 0;
    if (meta.size !== undefined && have === meta.size && have > 0) break;
    const headers: Record<string, string> = { "accept-encoding": "identity", ...authHeaders(c) };
    if (have > 0) headers.range = `bytes=${have}-`;
    let bytes = have;
    try {
      const res = await c.fetch(url, { headers });
      if (res.status === 416) {
        await rm(incomplete, { force: true });
        throw new Error("range not satisfiable; restarting");
      }
      if (!res.ok || !res.body) throw hubHttpError(repo, res.status, res.headers.get("x-error-code"), file, Boolean(c.token));
      const append = res.status === 206;
      if (!append) bytes = 0;
      const count = async function* (src: AsyncIterable<Uint8Array>) {
        for await (const chunk of src) {
          bytes += chunk.length;
          onProgress?.({ path: file, bytes, total: meta.size });
          yield chunk;
        }
      };
      await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), count, createWriteStream(incomplete, { flags: append ? "a" : "w" }));
      break;
    } catch (err) {
      if (err instanceof HubError || attempt >= retries) {
        if (err instanceof HubError) throw err;
        throw new HubError(`${file}: download interrupted after ${bytes} bytes (${(err as Error).message}); run again to resume from ${path.basename(incomplete)}`, repo, undefined, err, "HUB_INTERRUPTED");
      }
    }
  }
  const got = (await stat(incomplete)).size;
  if (meta.size !== undefined && got !== meta.size) {
    await rm(incomplete, { force: true });
    throw new HubError(`${file}: got ${got} bytes, the Hub announced ${meta.size}`, repo, undefined, undefined, "HUB_SIZE_MISMATCH");
  }
  // LFS blobs are named by their sha256: check the bytes before they enter the cache.
  if (meta.lfs && /^[0-9a-f]{64}$/.test(meta.etag)) {
    const hash = createHash("sha256");
    await pipeline(createReadStream(incomplete), hash);
    const digest = hash.digest("hex");
    if (digest !== meta.etag) {
      await rm(incomplete, { force: true });
      throw new HubError(`${file}: sha256 ${digest} does not match the Hub's ${meta.etag}`, repo, undefined, undefined, "HUB_CHECKSUM");
    }
  }
  await rename(incomplete, blob);
}

/** Point `snap` at `blob` with a relative symlink (as huggingface_hub does), placed atomically; copies where links are refused. */
async function linkSnapshot(blob: string, snap: string): Promise<void> {
  await mkdir(path.dirname(snap), { recursive: true });
  const tmp = `${snap}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await symlink(path.relative(path.dirname(snap), blob), tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    await copyFile(blob, tmp);
  }
  await rename(tmp, snap).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    if (!(await lstat(snap).catch(() => undefined))) throw err;
  });
}
