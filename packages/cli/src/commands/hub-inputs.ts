// Hub references on the command line: hf://datasets/… inputs and ORG/NAME[@REV] models, resolved through the
// huggingface_hub cache (HF_TOKEN, HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE read as Python reads them).
import { stat } from "node:fs/promises";
import type { RecordKind } from "@sfmed/schema";
import { createProgress, type Progress } from "../progress.js";
import { UsageError } from "../context.js";

/** Byte progress for downloads: one bar per file on a TTY, nothing when quiet or in CI. */
function downloadBar(quiet: boolean) {
  let bar: Progress | undefined;
  let current = "";
  return {
    onProgress(p: { path: string; bytes: number; total: number | undefined; done: number; files: number; finished?: boolean }) {
      if (p.finished) return;
      if (p.path !== current) {
        bar?.stop();
        current = p.path;
        bar = createProgress({ label: `hf ${p.path} (${p.done + 1}/${p.files})`, total: p.total, unit: "B", quiet });
      }
      bar?.update(p.bytes);
    },
    stop: () => bar?.stop(),
  };
}

export const isHubUri = (s: string): boolean => s.startsWith("hf://");

/**
 * `hf://datasets/ORG/NAME[@REV]/PATH-OR-GLOB` → the cached local files (a glob or a folder can give several, in
 * path order). Downloads resume; a second run (or HF_HUB_OFFLINE=1) reads the cache.
 */
export async function hubInputFiles(uri: string, quiet: boolean): Promise<string[]> {
  const { resolveHubFiles } = await import("@sfmed/schema/hub");
  const ref = await datasetRef(uri);
  const bar = downloadBar(quiet);
  try {
    return (await resolveHubFiles(ref, { onProgress: bar.onProgress })).files;
  } catch (err) {
    throw namingUri(err, uri);
  } finally {
    bar.stop();
  }
}

/** A record input's URI parsed; a malformed one, or one that is not a dataset's, is a usage error. */
async function datasetRef(uri: string) {
  const { parseHfUri } = await import("@sfmed/schema/hub");
  let ref;
  try {
    ref = parseHfUri(uri);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (ref.type !== "dataset") throw new UsageError(`${uri}: record inputs are dataset files; write hf://datasets/ORG/NAME/PATH`);
  return ref;
}

/** Name the URI as written: with several inputs the repo alone does not say which one failed. */
function namingUri(err: unknown, uri: string): unknown {
  if (err instanceof Error && err.name.startsWith("Hub") && !err.message.startsWith(uri)) err.message = `${uri}: ${err.message}`;
  return err;
}

/**
 * A model argument: a local folder as is, else `ORG/NAME[@REV]` (or `hf://ORG/NAME[@REV]`) fetched as a snapshot of
 * weights (`*.safetensors`), config.json, generation_config.json and tokenizer files; returns the folder.
 */
export async function resolveModelArg(arg: string, quiet: boolean): Promise<string> {
  const local = await stat(arg).then(
    () => true,
    () => false,
  );
  if (local && !isHubUri(arg)) return arg;
  const { resolveModel, parseRepoId } = await import("@sfmed/schema/hub");
  let ref;
  try {
    ref = parseRepoId(arg);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!ref) return arg;
  const bar = downloadBar(quiet);
  try {
    return await resolveModel(arg, false, { onProgress: bar.onProgress });
  } finally {
    bar.stop();
  }
}

/** An `hf://datasets/…` URI whose path names Parquet (a file, a `*.parquet` glob): read by ranges, not downloaded. */
export const isHubParquet = (s: string): boolean => isHubUri(s) && /\.parquet$/i.test(s);

/**
 * Rows of Hub Parquet files read with HTTP range requests (footer, then one row group at a time), so a large
 * split starts at once and nothing is written to the cache; files already cached are read from disk.
 */
export async function* hubParquetRecords(uri: string, opts: { kind?: RecordKind | undefined } = {}): AsyncGenerator<{ record: unknown; file: string; line: number }> {
  const { readHubParquet } = await import("@sfmed/schema/hub");
  const ref = await datasetRef(uri);
  try {
    yield* readHubParquet(ref, { onInvalid: "error", ...(opts.kind ? { kind: opts.kind } : {}) });
  } catch (err) {
    throw namingUri(err, uri);
  }
}
