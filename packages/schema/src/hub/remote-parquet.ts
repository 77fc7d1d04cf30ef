/**
 * Parquet straight from the Hub: rows are read with HTTP range requests (the footer, then one row group at a
 * time), nothing is written to the cache. Meant for the Hub's own Parquet conversion of every dataset, the
 * `refs/convert/parquet` branch (`CONFIG/SPLIT/NNNN.parquet`), and for any Parquet file too large to fetch whole.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import type { LocatedRecord } from "../io/read-records.js";
import type { ParquetReadOptions } from "../parquet.js";
import { headFile, repoStorage, resolveRevision } from "./cache.js";
import { authHeaders, encodePath, hubClient, urlPrefix } from "./client.js";
import { HubError } from "./errors.js";
import { selectFiles, type ResolveOptions } from "./resolve.js";
import { parseHfUri, type HubRef } from "./uri.js";

/** The branch where the Hub keeps its Parquet conversion of a dataset. */
export const PARQUET_CONVERSION = "refs/convert/parquet";

/** `hf://datasets/ORG/NAME@refs%2Fconvert%2Fparquet/CONFIG/SPLIT/*.parquet`: the URI of a converted split. */
export function parquetConversionUri(repo: string, split = "train", config = "default"): string {
  return `hf://datasets/${repo}@${encodeURIComponent(PARQUET_CONVERSION)}/${config}/${split}/*.parquet`;
}

/** Options of {@link readHubParquet}. */
export type ReadHubParquetOptions = Omit<ResolveOptions, "onProgress"> & ParquetReadOptions;

/**
 * Stream the rows of Hub Parquet files (a file, a glob or a folder URI, as for `resolveHubFiles`) with HTTP range
 * reads. A file already in the cache is read from disk; offline, only cached files can be read.
 * `line` is the row number within each file, `file` the `hf://` URI of that file at its commit.
 *
 * @throws {HubOfflineError} offline and not cached; {@link HubError} on a Hub failure; reader errors as in readParquet
 */
export async function* readHubParquet(uri: string | HubRef, opts: ReadHubParquetOptions = {}): AsyncGenerator<LocatedRecord<unknown>> {
  const ref = typeof uri === "string" ? parseHfUri(uri) : uri;
  const c = hubClient(opts);
  const { readParquet } = await import("../parquet.js");
  const { asyncBufferFromUrl, cachedAsyncBuffer } = await import("hyparquet");
  const sha = await resolveRevision(c, ref.type, ref.repo, ref.revision);
  const chosen = await selectFiles(c, ref, sha, ref.path === "" || ref.path.endsWith("/") ? (p) => p.startsWith(ref.path) && p.endsWith(".parquet") : undefined);
  const { onProgress: _skip, ...read } = opts;
  void _skip;
  for (const { path: p, meta: listed } of chosen) {
    const local = path.join(repoStorage(c, ref.type, ref.repo), "snapshots", sha, ...p.split("/"));
    const name = `hf://${ref.type === "dataset" ? "datasets/" : ""}${ref.repo}@${sha}/${p}`;
    if (await stat(local).then(() => true, () => false)) {
      for await (const r of readParquet(local, read)) yield { ...r, file: name };
      continue;
    }
    const meta = listed ?? (await headFile(c, ref.type, ref.repo, sha, p));
    if (meta.size === undefined) throw new HubError(`${p}: the Hub sent no size, so it cannot be read by ranges`, ref.repo);
    const url = `${c.endpoint}/${urlPrefix(ref.type)}${ref.repo}/resolve/${sha}/${encodePath(p)}`;
    const remote = await asyncBufferFromUrl({ url, byteLength: meta.size, requestInit: { headers: authHeaders(c) }, fetch: c.fetch });
    try {
      yield* readParquet({ name, buffer: cachedAsyncBuffer(remote) }, read);
    } catch (err) {
      if (/fetch failed (\d+)/.test(String((err as Error).message))) throw new HubError(`${p}: range read failed (${(err as Error).message})`, ref.repo, undefined, err);
      throw err;
    }
  }
}
