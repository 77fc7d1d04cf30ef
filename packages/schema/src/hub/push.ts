import { openAsBlob } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadPeer } from "../missing-peer.js";
import { writeDatasetCard, writeModelCard, type CardSplit, type DatasetCardInfo, type ModelCardInfo } from "./card.js";
import { asHubError, hubClient, type HubClient, type HubClientOptions } from "./client.js";
import { HubError } from "./errors.js";
import type { HubRepoType } from "./uri.js";

/** Where and how a push lands. */
export interface PushOptions extends HubClientOptions {
  /** `org/name`; created when missing. */
  repo: string;
  /** Create the repo private (a repo that exists keeps its visibility). */
  private?: boolean | undefined;
  /** Branch to commit to. @default "main" */
  revision?: string | undefined;
  /** Open a pull request instead of committing to the branch. */
  createPr?: boolean | undefined;
  /** Commit title. */
  commitMessage?: string | undefined;
  /** Upload progress per file (0–1). */
  onProgress?: ((p: { path: string; progress: number }) => void) | undefined;
}

/** What a push did. */
export interface PushResult {
  repo: string;
  commit: string;
  /** Set when `createPr` opened a pull request. */
  pullRequestUrl?: string | undefined;
  /** Repo paths written. */
  files: string[];
}

async function hubLib() {
  return loadPeer("@huggingface/hub", "Hub pushes (@sfmed/schema/hub)", () => import("@huggingface/hub"));
}

function requireToken(c: HubClient, repo: string): string {
  if (!c.token) throw new HubError("pushing needs a token with write access: set HF_TOKEN or log in with `huggingface-cli login`", repo, undefined, undefined, "HUB_NO_TOKEN");
  return c.token;
}

type Operation = { operation: "addOrUpdate"; path: string; content: Blob } | { operation: "delete"; path: string };

/** Create the repo when missing, then commit `ops` (through `@huggingface/hub`'s commit: preupload, LFS, commit). */
async function pushOps(c: HubClient, type: HubRepoType, o: PushOptions, ops: Operation[], stale?: (existing: string) => boolean): Promise<PushResult> {
  const token = requireToken(c, o.repo);
  const hub = await hubLib();
  const common = { hubUrl: c.endpoint, accessToken: token, fetch: c.fetch };
  const repo = { type, name: o.repo };
  try {
    await hub.createRepo({ repo, ...(o.private !== undefined ? { private: o.private } : {}), ...common });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 409) throw asHubError(err, o.repo, "creating the repo", c);
  }
  const branch = o.revision ?? "main";
  const written = new Set(ops.map((op) => op.path));
  if (stale) {
    try {
      for await (const f of hub.listFiles({ repo, revision: branch, recursive: true, ...common })) {
        if (f.type === "file" && !written.has(f.path) && stale(f.path)) ops.push({ operation: "delete", path: f.path });
      }
    } catch (err) {
      throw asHubError(err, o.repo, `listing ${branch}`, c);
    }
  }
  try {
    let result: Awaited<ReturnType<typeof hub.commit>> | undefined;
    const it = hub.commitIter({
      repo,
      operations: ops,
      title: o.commitMessage ?? `Upload with sfmed (${written.size} files)`,
      branch,
      ...(o.createPr ? { isPullRequest: true } : {}),
      ...common,
    });
    for (;;) {
      const step = await it.next();
      if (step.done) {
        result = step.value;
        break;
      }
      const e = step.value;
      if (e.event === "fileProgress" && e.state === "uploading") o.onProgress?.({ path: e.path, progress: e.progress });
    }
    if (!result) throw new HubError("the commit returned nothing", o.repo);
    return { repo: o.repo, commit: result.commit.oid, pullRequestUrl: result.pullRequestUrl, files: [...written].sort() };
  } catch (err) {
    throw asHubError(err, o.repo, `committing to ${branch}`, c);
  }
}

/** Options of {@link pushDataset}. */
export interface PushDatasetOptions extends PushOptions {
  /** Records per split (`{ train: records }`), each written as Parquet shards. */
  splits: Record<string, AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>>;
  /** Start a new shard once a shard's records reach this many bytes of JSON. @default 500 MB (as `datasets`' push_to_hub) */
  maxShardBytes?: number | undefined;
  /** The card; `repo` and `splits` are filled in. */
  card?: Omit<DatasetCardInfo, "repo" | "splits"> | undefined;
  /** Where shards are staged. @default a temp folder, removed afterwards */
  workDir?: string | undefined;
}

const pad = (n: number) => String(n).padStart(5, "0");

/**
 * Push records as a Hub dataset: each split is written as size-bounded Parquet shards
 * `data/{split}-NNNNN-of-NNNNN.parquet` (the `datasets` layout, so `load_dataset` reads it), with a dataset card
 * README.md whose `configs` point at them. Shards of the same splits left by an earlier push are deleted in the same
 * commit. Uploads go through `@huggingface/hub` (LFS/Xet as the Hub chooses).
 *
 * @throws {HubError} without a token, or on any Hub failure (the message never carries the token)
 */
export async function pushDataset(o: PushDatasetOptions): Promise<PushResult & { splits: CardSplit[] }> {
  const c = hubClient(o);
  requireToken(c, o.repo);
  const { writeParquet } = await import("../parquet.js");
  const work = o.workDir ?? (await mkdtemp(path.join(tmpdir(), "sfmed-push-")));
  const max = o.maxShardBytes ?? 500e6;
  try {
    const splits: CardSplit[] = [];
    const staged: Array<{ split: string; local: string[] }> = [];
    for (const [name, records] of Object.entries(o.splits)) {
      if (!/^[\w-]+$/.test(name)) throw new HubError(`split name "${name}" must be letters, digits, _ or -`, o.repo, undefined, undefined, "HUB_BAD_SPLIT");
      const it = (Symbol.asyncIterator in records ? (records as AsyncIterable<Record<string, unknown>>)[Symbol.asyncIterator]() : (records as Iterable<Record<string, unknown>>)[Symbol.iterator]()) as AsyncIterator<Record<string, unknown>> | Iterator<Record<string, unknown>>;
      let next = await it.next();
      const local: string[] = [];
      let count = 0;
      while (!next.done) {
        let bytes = 0;
        let inShard = 0;
        const shard = async function* () {
          while (!next.done && (inShard === 0 || bytes < max)) {
            const r = next.value;
            bytes += Buffer.byteLength(JSON.stringify(r));
            inShard++;
            yield r;
            next = await it.next();
          }
        };
        const file = path.join(work, `${name}-${pad(local.length)}.parquet`);
        await writeParquet(file, shard());
        local.push(file);
        count += inShard;
      }
      staged.push({ split: name, local });
      const n = local.length;
      splits.push({ name, records: count, files: local.map((_, i) => `data/${name}-${pad(i)}-of-${pad(n)}.parquet`) });
    }
    const ops: Operation[] = [];
    for (const [i, s] of staged.entries()) {
      for (const [j, local] of s.local.entries()) ops.push({ operation: "addOrUpdate", path: splits[i]!.files[j]!, content: await openAsBlob(local) });
    }
    const card = writeDatasetCard({ ...(o.card ?? {}), repo: o.repo, splits });
    ops.push({ operation: "addOrUpdate", path: "README.md", content: new Blob([card]) });
    const names = new Set(splits.map((s) => s.name));
    const stale = (p: string) => {
      const m = /^data\/([\w-]+)-\d{5}-of-\d{5}\.parquet$/.exec(p);
      return Boolean(m && names.has(m[1]!));
    };
    const res = await pushOps(c, "dataset", { ...o, commitMessage: o.commitMessage ?? `Upload ${splits.map((s) => `${s.name} (${s.records} records)`).join(", ")} with sfmed` }, ops, stale);
    return { ...res, splits };
  } finally {
    if (!o.workDir) await rm(work, { recursive: true, force: true });
  }
}

/** Options of {@link pushModel}. */
export interface PushModelOptions extends PushOptions {
  /** The checkpoint folder (safetensors, config, tokenizer …); every file under it is uploaded. */
  dir: string;
  /** The card; `repo` is filled in. A README.md in `dir` is used as is when no card is given. */
  card?: Omit<ModelCardInfo, "repo"> | undefined;
  /** Files (relative to `dir`) to leave out. @default optimizer states, RNG states and temp files of a training run */
  exclude?: (relPath: string) => boolean;
}

const TRAINING_STATE = /(^|\/)(checkpoint-\d+\/.*|optimizer\.pt|scheduler\.pt|rng_state[^/]*\.pth|trainer_state\.json|training_args\.bin|global_step[^/]*\/.*|\.[^/]*|[^/]*\.tmp|[^/]*\.incomplete)$/;

async function listDir(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    // A symlink counts as what it points at (the trainer's `model` link names a checkpoint folder).
    const dir = e.isDirectory() || (e.isSymbolicLink() && (await stat(path.join(root, p)).catch(() => undefined))?.isDirectory());
    if (dir) out.push(...(await listDir(root, p)));
    else if (e.isFile() || e.isSymbolicLink()) out.push(p);
  }
  return out.sort();
}

/**
 * Push a checkpoint folder as a Hub model with a model card (base_model, model-index). `private`, `revision` and
 * `createPr` as in huggingface_hub's upload_folder.
 *
 * @throws {HubError} without a token, when `dir` is not a folder, or on any Hub failure
 */
export async function pushModel(o: PushModelOptions): Promise<PushResult> {
  const c = hubClient(o);
  requireToken(c, o.repo);
  const st = await stat(o.dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new HubError(`${o.dir} is not a checkpoint folder`, o.repo, undefined, undefined, "HUB_NO_DIR");
  const exclude = o.exclude ?? ((p: string) => TRAINING_STATE.test(p));
  const files = (await listDir(o.dir)).filter((p) => !exclude(p));
  const ops: Operation[] = [];
  for (const p of files) {
    if (p === "README.md" && o.card) continue;
    ops.push({ operation: "addOrUpdate", path: p, content: await openAsBlob(path.join(o.dir, p)) });
  }
  if (o.card || !files.includes("README.md")) ops.push({ operation: "addOrUpdate", path: "README.md", content: new Blob([writeModelCard({ ...(o.card ?? {}), repo: o.repo })]) });
  return pushOps(c, "model", { ...o, commitMessage: o.commitMessage ?? `Upload ${o.repo.split("/")[1]} with sfmed` }, ops);
}
