import { createHash } from "node:crypto";
import { readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { loopbackServer, sendJson, tempDir, type Handler } from "@sfmed/test-utils";
import { describe, expect, it, vi } from "vitest";
import { downloadDataset, readHubRecords } from "./hub.js";
import { writeParquet } from "./parquet.js";

const SHA = "a1b2c3d4".repeat(5);

/** A loopback server answering the Hub's dataset endpoints for one repo, org/med, at revision main → SHA. */
function mockHub(files: Record<string, Buffer>, token = "hf_test"): Handler {
  const oid = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.headers.authorization !== `Bearer ${token}`) return sendJson(res, 401, { error: "Invalid credentials" });
    const api = /^\/api\/datasets\/org\/med\/(revision|tree|paths-info)\/([^/]+)/.exec(url.pathname);
    if (api) {
      const rev = decodeURIComponent(api[2]!);
      if (api[1] === "revision") {
        if (rev !== "main") return sendJson(res, 404, { error: "Revision Not Found" }, { "X-Error-Code": "RevisionNotFound" });
        return sendJson(res, 200, { _id: "1", id: "org/med", sha: SHA, private: false, lastModified: "2026-01-01T00:00:00Z" });
      }
      if (rev !== SHA) return sendJson(res, 404, { error: "Revision Not Found" });
      if (api[1] === "tree") return sendJson(res, 200, Object.entries(files).map(([p, b]) => ({ type: "file", path: p, size: b.length, oid: oid(b) })));
      const { paths } = JSON.parse(req.body) as { paths: string[] };
      return sendJson(
        res,
        200,
        paths.filter((p) => files[p]).map((p) => ({ type: "file", path: p, size: files[p]!.length, oid: oid(files[p]!), lastCommit: { id: SHA, title: "init", date: "2026-01-01T00:00:00Z" } })),
      );
    }
    const file = /^\/datasets\/org\/med\/(?:resolve|raw)\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) {
      const body = files[decodeURIComponent(file[2]!)];
      if (!body || file[1] !== SHA) {
        res.writeHead(404, { "X-Error-Code": "EntryNotFound", "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: "Entry not found" }));
      }
      const headers = { ETag: `"${oid(body)}"`, "Accept-Ranges": "bytes", "content-type": "application/octet-stream" };
      const range = /bytes=(\d+)-(\d*)/.exec(String(req.headers.range ?? ""));
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
        res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${body.length}`, "Content-Length": String(end - start + 1) });
        return void res.end(req.method === "HEAD" ? undefined : body.subarray(start, end + 1));
      }
      res.writeHead(200, { ...headers, "Content-Length": String(body.length) });
      return void res.end(req.method === "HEAD" ? undefined : body);
    }
    sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  };
}

const dialogue = (i: number) => ({ id: `d${i}`, source: "hub", messages: [{ role: "user", content: `问题${i}` }, { role: "assistant", content: `回答${i}` }] });

describe("@sfmed/schema/hub against a loopback hub", () => {
  it("downloads data files into the HF cache layout (refs/main → sha, snapshot symlinks) without printing", async () => {
    const jsonl = Buffer.from([1, 2, 3].map((i) => JSON.stringify(dialogue(i))).join("\n") + "\n");
    const srv = await loopbackServer(mockHub({ "data/train.jsonl": jsonl, "data/test.jsonl.gz": gzipSync(jsonl), "README.md": Buffer.from("# med") }));
    const cacheDir = await tempDir();
    const debug = vi.spyOn(console, "debug");
    const log = vi.spyOn(process.stdout, "write");
    const r = await downloadDataset({ repo: "org/med", env: {}, hubUrl: srv.url, accessToken: "hf_test", cacheDir });
    expect(debug).not.toHaveBeenCalled();
    expect(log).not.toHaveBeenCalled();
    const storage = path.join(cacheDir, "datasets--org--med");
    expect(r.sha).toBe(SHA);
    expect(r.files).toEqual([path.join(storage, "snapshots", SHA, "data/test.jsonl.gz"), path.join(storage, "snapshots", SHA, "data/train.jsonl")]);
    expect(await readFile(path.join(storage, "refs", "main"), "utf8")).toBe(SHA);
    expect(await readlink(r.files[1]!)).toMatch(/^\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
    expect(await readFile(r.files[1]!)).toEqual(jsonl);

    // Second time: everything is cached, so only the revision lookup goes out.
    const before = srv.requests.length;
    await downloadDataset({ repo: "datasets/org/med", env: {}, hubUrl: srv.url, accessToken: "hf_test", cacheDir, paths: ["data/train.jsonl"] });
    expect(srv.requests.slice(before).map((q) => q.url.split("?")[0])).toEqual(["/api/datasets/org/med/revision/main"]);
  });

  it("reads records of a JSONL and a Parquet file from the hub, validated by kind", async () => {
    const dir = await tempDir();
    await writeParquet(path.join(dir, "d.parquet"), [dialogue(1), dialogue(2)]);
    const pq = await readFile(path.join(dir, "d.parquet"));
    const bad = Buffer.from([JSON.stringify(dialogue(1)), "{broken", JSON.stringify(dialogue(3))].join("\n"));
    const srv = await loopbackServer(mockHub({ "train.parquet": pq, "bad.jsonl": bad }));
    const common = { repo: "org/med", env: {}, hubUrl: srv.url, accessToken: "hf_test", cacheDir: dir };
    const rows = [];
    for await (const r of readHubRecords({ ...common, path: "train.parquet", kind: "dialogue" })) rows.push(r.record);
    expect(rows).toEqual([dialogue(1), dialogue(2)]);
    const got = [];
    const rejects: unknown[] = [];
    for await (const r of readHubRecords({ ...common, path: "bad.jsonl", kind: "dialogue", onInvalid: "skip", rejects: { write: (x) => void rejects.push(x) } })) got.push(r.line);
    expect(got).toEqual([1, 3]);
    expect(rejects).toMatchObject([{ line: 2, code: "PARSE_ERROR" }]);
  });

  it("turns hub failures into HubError with the status", async () => {
    const srv = await loopbackServer(mockHub({ "a.jsonl": Buffer.from("{}\n") }));
    const cacheDir = await tempDir();
    await expect(downloadDataset({ repo: "org/med", env: {}, hubUrl: srv.url, accessToken: "hf_wrong", cacheDir })).rejects.toMatchObject({ name: "HubAuthError", statusCode: 401 });
    await expect(downloadDataset({ repo: "org/med", env: {}, hubUrl: srv.url, accessToken: "hf_test", cacheDir, revision: "nope" })).rejects.toMatchObject({ name: "HubError", statusCode: 404 });
    await expect(downloadDataset({ repo: "org/med", env: {}, hubUrl: srv.url, accessToken: "hf_test", cacheDir, paths: ["missing.jsonl"] })).rejects.toThrow(/org\/med: .*missing\.jsonl/);
  });
});
