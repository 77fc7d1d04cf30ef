import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { isInside } from "@sfmed/schema";
import { UsageError } from "../context.js";

/** File written into every stage folder the pipeline owns; its `state` and `key` decide whether it can be reused. */
export const STAGE_MARKER = ".sfmed-stage.json";

/** How much one input may hold before hashing it on every run is refused. */
export interface HashLimits {
  /** @default 200000 */
  maxFiles: number;
  /** @default 64 GiB */
  maxBytes: number;
}

export const DEFAULT_HASH_LIMITS: HashLimits = { maxFiles: 200_000, maxBytes: 64 * 2 ** 30 };

/** An input cannot be hashed: it is the file system root or a home folder (or holds one), or it is too big. */
export class InputHashError extends Error {
  override readonly name = "InputHashError";
  constructor(
    readonly code: "unsafe" | "too_large",
    readonly path: string,
    readonly stage: string,
    reason: string,
  ) {
    super(`stage "${stage}": input ${path} ${reason}`);
  }
}

/** Why `p` must never be walked (the root, a home folder or a folder holding one), or undefined. */
export function unsafeInput(p: string): string | undefined {
  const abs = path.resolve(p);
  if (abs === path.parse(abs).root) return "is the file system root";
  const home = homedir();
  if (home && isInside(abs, home)) return abs === path.resolve(home) ? "is your home folder" : "holds your home folder";
  return undefined;
}

/**
 * The folders whose files the pipeline hashes by content when a command names them: the pipeline file's folder
 * and the git work tree around it (unless that is a home folder or the root). Elsewhere a named path is
 * fingerprinted by size and modification time only, so a command naming `/` or a dataset mount never starts a walk.
 */
export function projectRoots(pipelineFile: string): string[] {
  const dir = path.dirname(path.resolve(pipelineFile));
  const roots = [dir];
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, ".git"))) {
      if (d !== dir && !unsafeInput(d)) roots.push(d);
      break;
    }
    if (path.dirname(d) === d) break;
  }
  return roots;
}

/** Size and modification time of `p` (not following into a folder): a cheap fingerprint for paths outside the project. */
export async function fingerprintPath(p: string): Promise<string> {
  const st = await stat(p);
  return `meta ${st.isDirectory() ? "dir" : "file"} ${st.size} ${st.mtimeMs}`;
}

/**
 * Content hash of a file, or of a folder (names and contents, sorted; markers of our own skipped). Symbolic links
 * inside a folder are hashed as their target's name, never followed, so a link to `/` cannot start a walk.
 * @throws InputHashError for the root or a home folder, or past `limits`
 */
export async function hashPath(p: string, stage: string, limits: HashLimits = DEFAULT_HASH_LIMITS): Promise<string> {
  const unsafe = unsafeInput(p);
  if (unsafe) throw new InputHashError("unsafe", p, stage, `${unsafe}: the pipeline never hashes it. Name the files or folders the stage reads`);
  const h = createHash("sha256");
  const seen = { files: 0, bytes: 0 };
  const tooLarge = () =>
    new InputHashError(
      "too_large",
      p,
      stage,
      `holds more than ${limits.maxFiles.toLocaleString("en-US")} files or ${(limits.maxBytes / 2 ** 30).toFixed(0)} GiB: too much to hash on every run. Name the files or a smaller folder the stage reads (under \`inputs:\` or in the command)`,
    );
  const feed = async (file: string, rel: string, top: boolean): Promise<void> => {
    const st = top ? await stat(file) : await lstat(file);
    if (st.isSymbolicLink()) {
      h.update(`link ${rel} ${await readlink(file)}\n`);
      return;
    }
    if (st.isDirectory()) {
      const names = (await readdir(file)).filter((n) => n !== STAGE_MARKER).sort();
      h.update(`dir ${rel}\n`);
      for (const n of names) await feed(path.join(file, n), rel ? `${rel}/${n}` : n, false);
      return;
    }
    if (!st.isFile()) {
      h.update(`special ${rel}\n`);
      return;
    }
    seen.files++;
    seen.bytes += st.size;
    if (seen.files > limits.maxFiles || seen.bytes > limits.maxBytes) throw tooLarge();
    h.update(`file ${rel} ${st.size}\n`);
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  };
  await feed(p, "", true);
  return h.digest("hex");
}

/**
 * Fingerprint of an `hf://` input: the repo and path with the commit its revision resolves to now. Files at a
 * commit never change, so a stage reruns exactly when a branch moves; nothing is downloaded here (the stage does
 * that), and with HF_HUB_OFFLINE the commit is read from the cache's `refs/`.
 * @throws UsageError for a malformed URI; the Hub's errors (HubError, HubOfflineError…) with the stage and URI named
 */
export async function hashHubInput(uri: string, stage: string): Promise<string> {
  const { parseHfUri, hubClient, resolveRevision } = await import("@sfmed/schema/hub");
  let ref;
  try {
    ref = parseHfUri(uri);
  } catch (err) {
    throw new UsageError(`stage "${stage}": ${(err as Error).message}`);
  }
  try {
    const commit = await resolveRevision(hubClient(), ref.type, ref.repo, ref.revision);
    return `hub ${ref.type} ${ref.repo}@${commit} ${ref.path}`;
  } catch (err) {
    if (err instanceof Error && err.name.startsWith("Hub")) err.message = `stage "${stage}": input ${uri}: ${err.message}`;
    throw err;
  }
}
