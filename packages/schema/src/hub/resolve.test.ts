import { createHash } from "node:crypto";
import { readdir, readFile, readlink, stat, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fakeHub, tempDir, trainerPython } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { hubEnv, maskToken } from "./env.js";
import { HubAuthError, HubOfflineError } from "./errors.js";
import { resolveHubFiles, resolveModel, snapshotDownload } from "./resolve.js";

const TOKEN = "hf_fake_valid_token";
const jsonl = (n: number, tag = "a") => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${tag}${i}`, text: `第${i}条 病历` })).join("\n") + "\n";
const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
// Every call passes its own `env` with HF_HOME in a temp folder: a developer's HF_TOKEN, token file or
// HF_HUB_OFFLINE must never reach (or change) these tests.
const noNetwork: typeof fetch = () => Promise.reject(new Error("network used while offline"));

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

describe("resolveHubFiles: hf://datasets URIs into the huggingface_hub cache", () => {
  it("expands a glob through the tree API, lays files out as huggingface_hub does, then resolves offline", async () => {
    const hub = await fakeHub();
    const big = jsonl(400, "b"); // over the LFS threshold
    const sha = hub.addRepo({ id: "org/med", files: { "data/a.jsonl": jsonl(3), "data/b.jsonl": big, "data/notes.md": "# x", "other/c.jsonl": jsonl(1) } });
    const cacheDir = await tempDir();
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir, HF_HOME: cacheDir };
    const finished: string[] = [];
    let bytes = 0;
    const r = await resolveHubFiles("hf://datasets/org/med/data/*.jsonl", {
      env,
      onProgress: (p) => (p.finished ? finished.push(`${p.path} ${p.done}/${p.files}`) : p.path === "data/b.jsonl" && (bytes = p.bytes)),
    });
    expect(finished).toEqual(["data/a.jsonl 1/2", "data/b.jsonl 2/2"]);
    expect(bytes).toBe(Buffer.byteLength(big));
    expect(r.sha).toBe(sha);
    expect(r.paths).toEqual(["data/a.jsonl", "data/b.jsonl"]);
    const storage = path.join(cacheDir, "datasets--org--med");
    expect(r.files).toEqual(r.paths.map((p) => path.join(storage, "snapshots", sha, p)));
    expect(await readFile(path.join(storage, "refs", "main"), "utf8")).toBe(sha);
    // A regular file's blob is its git oid (the Hub's ETag); an LFS file's blob is its sha256 (X-Linked-Etag).
    const gitOid = createHash("sha1").update(`blob ${Buffer.byteLength(jsonl(3))}\0`).update(jsonl(3)).digest("hex");
    expect(await readlink(r.files[0]!)).toBe(`../../../blobs/${gitOid}`);
    expect(await readlink(r.files[1]!)).toBe(`../../../blobs/${sha256(big)}`);
    expect(await readFile(r.files[1]!, "utf8")).toBe(big);
    expect((await walk(path.join(storage, "blobs"))).some((f) => f.endsWith(".incomplete"))).toBe(false);

    const before = hub.requests.length;
    const again = await resolveHubFiles("hf://datasets/org/med/data/*.jsonl", { env: { ...env, HF_HUB_OFFLINE: "1" }, fetch: noNetwork });
    expect(again.files).toEqual(r.files);
    expect(hub.requests.length).toBe(before);
    const one = await resolveHubFiles("hf://datasets/org/med@main/data/a.jsonl", { env: { ...env, HF_HUB_OFFLINE: "1" }, fetch: noNetwork });
    expect(one.files).toEqual([r.files[0]]);

    await expect(resolveHubFiles("hf://datasets/org/med/other/c.jsonl", { env: { ...env, HF_HUB_OFFLINE: "1" } })).rejects.toSatisfy(
      (e: unknown) => e instanceof HubOfflineError && /other\/c\.jsonl/.test(e.missing) && /HF_HUB_OFFLINE/.test(e.message),
    );
    await expect(resolveHubFiles("hf://datasets/org/med@v2/data/a.jsonl", { env: { ...env, HF_HUB_OFFLINE: "1" } })).rejects.toMatchObject({
      name: "HubOfflineError",
      missing: expect.stringContaining('ref "v2"'),
    });
  });

  it("a folder URI selects its data files; a pinned commit needs no revision lookup", async () => {
    const hub = await fakeHub();
    const sha = hub.addRepo({ id: "org/med", files: { "train/x.jsonl": jsonl(2), "train/y.csv": "id,text\n1,a\n", "train/README.md": "x" } });
    const cacheDir = await tempDir();
    const r = await resolveHubFiles(`hf://datasets/org/med@${sha}/train/`, { endpoint: hub.url, cacheDir, env: { HF_HOME: cacheDir } });
    expect(r.paths).toEqual(["train/x.jsonl", "train/y.csv"]);
    expect(hub.requests.some((q) => q.url.includes("/revision/"))).toBe(false);
  });

  it("a gated repo without a token fails with a clear 401; with a token it downloads", async () => {
    const hub = await fakeHub();
    hub.addRepo({ id: "org/gated", files: { "a.jsonl": jsonl(1) }, gated: true });
    const cacheDir = await tempDir();
    const err = await resolveHubFiles("hf://datasets/org/gated/a.jsonl", { endpoint: hub.url, cacheDir, env: { HF_HOME: cacheDir } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubAuthError);
    expect(err).toMatchObject({ statusCode: 401, code: "HUB_UNAUTHORIZED" });
    expect((err as Error).message).toMatch(/org\/gated: HTTP 401: .*gated or private.*HF_TOKEN/);
    const ok = await resolveHubFiles("hf://datasets/org/gated/a.jsonl", { endpoint: hub.url, cacheDir, env: { HF_HOME: cacheDir, HF_TOKEN: TOKEN } });
    expect(await readFile(ok.files[0]!, "utf8")).toBe(jsonl(1));
  });

  it("resumes an interrupted download with a Range request and checks the sha256", async () => {
    const hub = await fakeHub();
    const big = jsonl(2000, "r");
    hub.addRepo({ id: "org/big", files: { "big.jsonl": big } });
    const cacheDir = await tempDir();
    const opts = { endpoint: hub.url, cacheDir, env: { HF_HOME: cacheDir } };
    hub.dropOnce("big.jsonl");
    const first = await resolveHubFiles("hf://datasets/org/big/big.jsonl", { ...opts, retries: 0 }).catch((e: unknown) => e);
    expect(first).toMatchObject({ name: "HubError", code: "HUB_INTERRUPTED" });
    const blobs = path.join(cacheDir, "datasets--org--big", "blobs");
    const partial = (await stat(path.join(blobs, `${sha256(big)}.incomplete`))).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(Buffer.byteLength(big));
    const r = await resolveHubFiles("hf://datasets/org/big/big.jsonl", opts);
    expect(await readFile(r.files[0]!, "utf8")).toBe(big);
    const gets = hub.requests.filter((q) => q.method === "GET" && q.url.startsWith("/lfs-cdn/"));
    expect(gets.at(-1)!.headers.range).toBe(`bytes=${partial}-`);
    expect(hub.sent.get("big.jsonl")).toBe(Buffer.byteLength(big)); // no byte sent twice

    // Within one call the retry resumes too.
    const cache2 = await tempDir();
    hub.dropOnce("big.jsonl");
    const r2 = await resolveHubFiles("hf://datasets/org/big/big.jsonl", { ...opts, cacheDir: cache2 });
    expect(await readFile(r2.files[0]!, "utf8")).toBe(big);

    // Corrupted bytes never enter the cache.
    const cache3 = await tempDir();
    const corrupt: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(res.url).includes("/lfs-cdn/")) return res;
      const b = Buffer.from(await res.arrayBuffer());
      b[10] = b[10]! ^ 1;
      return new Response(b, { status: res.status, headers: res.headers });
    };
    await expect(resolveHubFiles("hf://datasets/org/big/big.jsonl", { ...opts, cacheDir: cache3, fetch: corrupt })).rejects.toMatchObject({ code: "HUB_CHECKSUM" });
    expect(await walk(path.join(cache3, "datasets--org--big", "blobs"))).toEqual([]);
  });

  it("never writes or reports the token", async () => {
    const hub = await fakeHub({ tokens: ["hf_secretSECRET123456"] });
    hub.addRepo({ id: "org/gated", files: { "a.jsonl": jsonl(400), "b.jsonl": jsonl(1) }, gated: true });
    const cacheDir = await tempDir();
    await resolveHubFiles("hf://datasets/org/gated/*.jsonl", { endpoint: hub.url, cacheDir, env: { HF_HOME: cacheDir, HF_TOKEN: "hf_secretSECRET123456" } });
    for (const f of await walk(cacheDir)) expect(await readFile(f, "utf8")).not.toContain("SECRET");
    const bad = await resolveHubFiles("hf://datasets/org/gated/nope.jsonl", { endpoint: hub.url, cacheDir, env: { HF_HOME: cacheDir, HF_TOKEN: "hf_wrongWRONG654321" } }).catch((e: unknown) => e);
    expect(String((bad as Error).message) + String((bad as Error).stack)).not.toContain("WRONG");
    expect(maskToken("Bearer hf_abcdefghij and hf_abcdefghij", "hf_abcdefghij")).toBe("Bearer hf_*** and hf_***");
  });

  it("snapshots a model repo's weights, config and tokenizer only, and reuses the cache offline", async () => {
    const hub = await fakeHub();
    const sha = hub.addRepo({
      type: "model",
      id: "org/tiny",
      files: { "model.safetensors": Buffer.alloc(64, 1), "config.json": "{}", "tokenizer.json": "{}", "pytorch_model.bin": Buffer.alloc(8), "README.md": "# m" },
    });
    const cacheDir = await tempDir();
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir, HF_HOME: cacheDir };
    const dir = await resolveModel("org/tiny", false, { env });
    expect(dir).toBe(path.join(cacheDir, "models--org--tiny", "snapshots", sha));
    expect((await readdir(dir)).sort()).toEqual(["config.json", "model.safetensors", "tokenizer.json"]);
    expect(await resolveModel("org/tiny@main", false, { env: { ...env, HF_HUB_OFFLINE: "1" }, fetch: noNetwork })).toBe(dir);
    expect(await resolveModel("runs/local", true, { env })).toBe("runs/local");
    const all = await snapshotDownload({ type: "model", repo: "org/tiny", revision: sha, path: "" }, { env });
    expect(all.paths).toContain("pytorch_model.bin");
  });
});

// Where the trainer's Python environment is built, Python's huggingface_hub must read our cache offline as its own.
it.runIf(trainerPython())("Python's huggingface_hub finds the files offline in the cache this package wrote", async () => {
  const hub = await fakeHub();
  const big = jsonl(400, "p");
  hub.addRepo({ id: "org/med", files: { "data/a.jsonl": jsonl(3), "data/b.jsonl": big } });
  hub.addRepo({ type: "model", id: "org/tiny", files: { "model.safetensors": Buffer.alloc(64, 1), "config.json": "{}" } });
  const cacheDir = await tempDir();
  const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir, HF_HOME: cacheDir };
  const r = await resolveHubFiles("hf://datasets/org/med/data/*.jsonl", { env });
  const model = await resolveModel("org/tiny", false, { env });
  const script = [
    "import sys, json",
    "from huggingface_hub import hf_hub_download, snapshot_download, scan_cache_dir",
    "c = sys.argv[1]",
    "a = hf_hub_download('org/med', 'data/b.jsonl', repo_type='dataset', cache_dir=c)",
    "m = snapshot_download('org/tiny', cache_dir=c)",
    "info = scan_cache_dir(c)",
    "print(json.dumps({'a': a, 'm': m, 'repos': sorted(r.repo_id for r in info.repos), 'warnings': len(info.warnings), 'files': sum(r.nb_files for r in info.repos)}))",
  ].join("\n");
  const out = execFileSync(trainerPython()!, ["-c", script, cacheDir], { env: { ...process.env, HF_HUB_OFFLINE: "1", HF_HUB_DISABLE_TELEMETRY: "1" }, encoding: "utf8" });
  expect(JSON.parse(out.trim().split("\n").at(-1)!)).toEqual({ a: r.files[1], m: model, repos: ["org/med", "org/tiny"], warnings: 0, files: 4 });
});

describe("hubEnv reads the environment as huggingface_hub does", () => {
  it("HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN and the token file", async () => {
    const home = await tempDir();
    expect(hubEnv({ HF_HOME: home })).toMatchObject({ home, cacheDir: path.join(home, "hub"), endpoint: "https://huggingface.co", offline: false, token: undefined });
    await mkdir(home, { recursive: true });
    await writeFile(path.join(home, "token"), "hf_fromFileToken\n");
    expect(hubEnv({ HF_HOME: home }).token).toBe("hf_fromFileToken");
    expect(hubEnv({ HF_HOME: home, HF_TOKEN: "hf_env" }).token).toBe("hf_env");
    expect(hubEnv({ HF_HOME: home, HF_HUB_CACHE: "/c", HF_ENDPOINT: "https://mirror.example/", HF_HUB_OFFLINE: "1" })).toMatchObject({
      cacheDir: "/c",
      endpoint: "https://mirror.example",
      offline: true,
    });
    for (const v of ["true", "YES", "on"]) expect(hubEnv({ HF_HUB_OFFLINE: v }).offline).toBe(true);
    for (const v of ["0", "", "false"]) expect(hubEnv({ HF_HUB_OFFLINE: v }).offline).toBe(false);
    expect(hubEnv({ XDG_CACHE_HOME: "/x" }).cacheDir).toBe("/x/huggingface/hub");
  });
});
