import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { loopbackServer, sendJson, type LoopbackServer } from "./loopback-server.js";

/**
 * A loopback Hugging Face Hub speaking just the endpoints sfmed and `@huggingface/hub` call: revision lookup,
 * tree listing, paths-info, resolve (HEAD/GET with ETag, X-Repo-Commit, X-Linked-Etag/Size, Range; LFS files
 * redirect to a CDN path as on the real Hub), and for pushes repo creation, preupload, the LFS batch API with basic
 * uploads, and NDJSON commits (optionally as a pull request).
 */
export interface FakeHub extends LoopbackServer {
  /** Add (or replace) a repo with one commit on `main`; returns the commit sha. */
  addRepo(init: FakeRepoInit): string;
  /** Commit files on a branch (created when missing); returns the new commit sha. */
  commit(type: RepoType, id: string, files: Record<string, string | Uint8Array>, branch?: string): string;
  /** The files of a repo at a revision (branch, `refs/pr/N` or sha); undefined for an unknown repo or revision. */
  files(type: RepoType, id: string, revision?: string): Map<string, Buffer> | undefined;
  /** Whether a repo was created private. */
  isPrivate(type: RepoType, id: string): boolean | undefined;
  /** Cut the connection once, half-way through the next GET of this repo path's bytes. */
  dropOnce(path: string): void;
  /** Bytes the server has sent for file bodies (GET), per repo path. */
  sent: Map<string, number>;
}

type RepoType = "dataset" | "model";

export interface FakeRepoInit {
  type?: RepoType;
  /** `org/name` */
  id: string;
  files: Record<string, string | Uint8Array>;
  /** Answer 401 to requests without a valid token (gated or private repo). */
  gated?: boolean;
}

interface Repo {
  gated: boolean;
  private: boolean;
  commits: Map<string, Map<string, Buffer>>;
  refs: Map<string, string>;
  prs: number;
}

export interface FakeHubOptions {
  /** Tokens the hub accepts. @default ["hf_fake_valid_token"] */
  tokens?: string[];
  /** Files at least this large, and Parquet/safetensors files, are stored as LFS. @default 4096 */
  lfsThreshold?: number;
  /** Close when the current vitest test finishes; pass false to run it from a plain script. @default true */
  autoClose?: boolean;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const gitOid = (b: Buffer) => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");

/** Start a fake Hub on 127.0.0.1 (closed when the test finishes). */
export async function fakeHub(opts: FakeHubOptions = {}): Promise<FakeHub> {
  const tokens = new Set(opts.tokens ?? ["hf_fake_valid_token"]);
  const threshold = opts.lfsThreshold ?? 4096;
  const repos = new Map<string, Repo>();
  const lfsStore = new Map<string, Buffer>();
  const drops = new Set<string>();
  const sent = new Map<string, number>();
  let seq = 0;
  const isLfs = (p: string, size: number) => size >= threshold || /\.(parquet|safetensors|bin|gguf)$/.test(p);
  const key = (type: RepoType, id: string) => `${type}s/${id}`;

  function makeCommit(repo: Repo, files: Map<string, Buffer>, branch: string, parent?: string): string {
    const h = createHash("sha1").update(String(++seq)).update(parent ?? "");
    for (const [p, b] of [...files].sort()) h.update(p).update(gitOid(b));
    const sha = h.digest("hex");
    repo.commits.set(sha, files);
    repo.refs.set(branch, sha);
    return sha;
  }
  const toBuf = (v: string | Uint8Array) => (typeof v === "string" ? Buffer.from(v) : Buffer.from(v));
  const resolveRev = (repo: Repo, rev: string) => (repo.commits.has(rev) ? rev : repo.refs.get(rev));

  const entry = (p: string, b: Buffer) => ({
    type: "file",
    path: p,
    size: b.length,
    oid: gitOid(b),
    ...(isLfs(p, b.length) ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 130 } } : {}),
  });

  function serveBytes(req: IncomingMessage, res: ServerResponse, body: Buffer, headers: Record<string, string>, dropKey: string): void {
    const range = /bytes=(\d+)-(\d*)/.exec(String(req.headers.range ?? ""));
    let start = 0;
    let end = body.length - 1;
    let status = 200;
    const h: Record<string, string> = { "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", ...headers };
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      if (start >= body.length) {
        res.writeHead(416, { "Content-Range": `bytes */${body.length}` });
        return void res.end();
      }
      status = 206;
      h["Content-Range"] = `bytes ${start}-${end}/${body.length}`;
    }
    h["Content-Length"] = String(end - start + 1);
    res.writeHead(status, h);
    if (req.method === "HEAD") return void res.end();
    const part = body.subarray(start, end + 1);
    if (drops.delete(dropKey) && part.length > 1) {
      const half = part.subarray(0, Math.floor(part.length / 2));
      sent.set(dropKey, (sent.get(dropKey) ?? 0) + half.length);
      res.write(half, () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    sent.set(dropKey, (sent.get(dropKey) ?? 0) + part.length);
    res.end(part);
  }

  const srv = await loopbackServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const p = decodeURIComponent(url.pathname);
    const auth = String(req.headers.authorization ?? "");
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : undefined;
    if (token !== undefined && !tokens.has(token)) return sendJson(res, 401, { error: "Invalid credentials in Authorization header" });
    const authed = token !== undefined;
    const repoFor = (type: RepoType, id: string): Repo | "denied" | undefined => {
      const r = repos.get(key(type, id));
      if (r && (r.gated || r.private) && !authed) return "denied";
      return r;
    };
    const denied = () =>
      sendJson(res, 401, { error: "Access to this repo is restricted. You must be authenticated to access it." }, { "X-Error-Code": "GatedRepo" });
    const notFound = (code: string, error: string) => sendJson(res, 404, { error }, { "X-Error-Code": code });

    // Push: create a repo.
    if (req.method === "POST" && p === "/api/repos/create") {
      if (!authed) return sendJson(res, 401, { error: "You must be authenticated" });
      const b = JSON.parse(req.body) as { name: string; organization?: string; type?: RepoType; visibility?: string; private?: boolean };
      const id = `${b.organization}/${b.name}`;
      const k = key(b.type ?? "model", id);
      if (repos.has(k)) return sendJson(res, 409, { error: "You already created this repo", url: `${srv.url}/${k}` });
      const repo: Repo = { gated: false, private: b.visibility === "private" || b.private === true, commits: new Map(), refs: new Map(), prs: 0 };
      repos.set(k, repo);
      makeCommit(repo, new Map([[".gitattributes", Buffer.from("*.parquet filter=lfs diff=lfs merge=lfs -text\n")]]), "main");
      return sendJson(res, 200, { url: `${srv.url}/${k}`, name: id, id });
    }

    const api = /^\/api\/(datasets|models)\/([^/]+\/[^/]+)\/(revision|tree|paths-info|preupload|commit)\/(.*)$/.exec(p);
    if (api) {
      const type: RepoType = api[1] === "datasets" ? "dataset" : "model";
      const repo = repoFor(type, api[2]!);
      if (repo === "denied") return denied();
      if (!repo) return authed ? notFound("RepoNotFound", "Repository not found") : sendJson(res, 401, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
      const op = api[3]!;
      let rev = api[4]!;
      let sub = "";
      if (op === "tree") {
        const [r, ...rest] = rev.split("/");
        rev = r!;
        sub = rest.join("/");
      }
      if (op === "preupload" || op === "commit") {
        if (!authed) return sendJson(res, 401, { error: "You must be authenticated" });
        const sha = repo.refs.get(rev);
        if (op === "preupload") {
          const b = JSON.parse(req.body) as { files: Array<{ path: string; size: number }> };
          return sendJson(res, 200, { files: b.files.map((f) => ({ path: f.path, uploadMode: isLfs(f.path, f.size) ? "lfs" : "regular", shouldIgnore: false })) });
        }
        if (!sha) return notFound("RevisionNotFound", `Invalid rev id: ${rev}`);
        const files = new Map(repo.commits.get(sha)!);
        for (const line of req.body.split("\n").filter(Boolean)) {
          const { key: k, value } = JSON.parse(line) as { key: string; value: { path: string; content?: string; oid?: string } };
          if (k === "file") files.set(value.path, Buffer.from(value.content ?? "", "base64"));
          else if (k === "lfsFile") {
            const blob = lfsStore.get(value.oid!);
            if (!blob) return sendJson(res, 400, { error: `LFS object ${value.oid} was not uploaded` });
            files.set(value.path, blob);
          } else if (k === "deletedFile") files.delete(value.path);
        }
        if (url.searchParams.get("create_pr")) {
          const n = ++repo.prs;
          const commitOid = makeCommit(repo, files, `refs/pr/${n}`, sha);
          return sendJson(res, 200, { commitOid, commitUrl: `${srv.url}/commit/${commitOid}`, pullRequestUrl: `${srv.url}/${key(type, api[2]!)}/discussions/${n}` });
        }
        const commitOid = makeCommit(repo, files, rev, sha);
        return sendJson(res, 200, { commitOid, commitUrl: `${srv.url}/commit/${commitOid}` });
      }
      const sha = resolveRev(repo, rev);
      if (!sha) return notFound("RevisionNotFound", `Invalid rev id: ${rev}`);
      const files = repo.commits.get(sha)!;
      if (op === "revision") return sendJson(res, 200, { _id: sha.slice(0, 24), id: api[2], sha, private: repo.private, gated: repo.gated ? "auto" : false });
      if (op === "paths-info") {
        const b = JSON.parse(req.body) as { paths: string[] };
        return sendJson(res, 200, b.paths.filter((q) => files.has(q)).map((q) => entry(q, files.get(q)!)));
      }
      const recursive = url.searchParams.get("recursive") === "true";
      const prefix = sub ? sub.replace(/\/$/, "") + "/" : "";
      const items: unknown[] = [];
      const dirs = new Set<string>();
      for (const [fp, b] of [...files].sort()) {
        if (!fp.startsWith(prefix)) continue;
        const rest = fp.slice(prefix.length);
        if (recursive || !rest.includes("/")) items.push(entry(fp, b));
        else dirs.add(prefix + rest.split("/")[0]);
      }
      for (const d of dirs) items.push({ type: "directory", path: d, oid: "0".repeat(40), size: 0 });
      if (sub && items.length === 0) return notFound("EntryNotFound", `${sub} does not exist`);
      return sendJson(res, 200, items);
    }

    // LFS batch API and the basic-transfer upload target.
    const batch = /^\/(datasets\/)?([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(p);
    if (batch && req.method === "POST") {
      if (!authed) return sendJson(res, 401, { message: "Unauthorized" });
      const b = JSON.parse(req.body) as { objects: Array<{ oid: string; size: number }> };
      res.writeHead(200, { "Content-Type": "application/vnd.git-lfs+json" });
      return void res.end(
        JSON.stringify({
          transfer: "basic",
          objects: b.objects.map((o) => ({ oid: o.oid, size: o.size, ...(lfsStore.has(o.oid) ? {} : { actions: { upload: { href: `${srv.url}/lfs-upload/${o.oid}` } } }) })),
        }),
      );
    }
    const upload = /^\/lfs-upload\/([0-9a-f]{64})$/.exec(p);
    if (upload && req.method === "PUT") {
      if (sha256(req.raw) !== upload[1]) return sendJson(res, 400, { error: "sha256 mismatch" });
      lfsStore.set(upload[1]!, req.raw);
      res.writeHead(200, { ETag: `"${upload[1]}"` });
      return void res.end();
    }
    const cdn = /^\/lfs-cdn\/([0-9a-f]{64})\/(.+)$/.exec(p);
    if (cdn) {
      const blob = lfsStore.get(cdn[1]!);
      if (!blob) return notFound("EntryNotFound", "no such object");
      return serveBytes(req, res, blob, { ETag: `"${cdn[1]}"` }, cdn[2]!);
    }

    const resolve = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    if (resolve && (req.method === "GET" || req.method === "HEAD")) {
      const type: RepoType = resolve[1] ? "dataset" : "model";
      const repo = repoFor(type, resolve[2]!);
      if (repo === "denied") return denied();
      if (!repo) return sendJson(res, 401, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
      const sha = resolveRev(repo, resolve[3]!);
      if (!sha) return notFound("RevisionNotFound", "Invalid rev id");
      const fp = resolve[4]!;
      const body = repo.commits.get(sha)!.get(fp);
      if (!body) return notFound("EntryNotFound", `${fp} does not exist on "${resolve[3]}"`);
      if (isLfs(fp, body.length)) {
        const oid = sha256(body);
        lfsStore.set(oid, body);
        res.writeHead(302, {
          Location: `${srv.url}/lfs-cdn/${oid}/${encodeURIComponent(fp)}`,
          ETag: `"${gitOid(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${body.length}\n`))}"`,
          "X-Linked-Etag": `"${oid}"`,
          "X-Linked-Size": String(body.length),
          "X-Repo-Commit": sha,
        });
        return void res.end();
      }
      return serveBytes(req, res, body, { ETag: `"${gitOid(body)}"`, "X-Repo-Commit": sha }, fp);
    }
    sendJson(res, 404, { error: `fake hub: no route ${req.method} ${p}` });
  }, { autoClose: opts.autoClose });

  return Object.assign(srv, {
    sent,
    addRepo(init: FakeRepoInit) {
      const repo: Repo = { gated: init.gated ?? false, private: false, commits: new Map(), refs: new Map(), prs: 0 };
      repos.set(key(init.type ?? "dataset", init.id), repo);
      return makeCommit(repo, new Map(Object.entries(init.files).map(([k, v]) => [k, toBuf(v)])), "main");
    },
    commit(type: RepoType, id: string, files: Record<string, string | Uint8Array>, branch = "main") {
      const repo = repos.get(key(type, id));
      if (!repo) throw new Error(`fake hub: no repo ${key(type, id)}`);
      const parent = repo.refs.get(branch) ?? repo.refs.get("main");
      const next = new Map(parent ? repo.commits.get(parent) : undefined);
      for (const [k, v] of Object.entries(files)) next.set(k, toBuf(v));
      return makeCommit(repo, next, branch, parent);
    },
    files(type: RepoType, id: string, revision = "main") {
      const repo = repos.get(key(type, id));
      const sha = repo && resolveRev(repo, revision);
      return sha ? repo!.commits.get(sha) : undefined;
    },
    isPrivate(type: RepoType, id: string) {
      return repos.get(key(type, id))?.private;
    },
    dropOnce(path: string) {
      drops.add(path);
    },
  });
}
