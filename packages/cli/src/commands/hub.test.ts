import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Checkpoint, writeSafetensors } from "@sfmed/dpo-merge";
import { fakeHub, tempDir } from "@sfmed/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { capture } from "../test-helpers/capture.js";
import { hubModelOfJob } from "./train.js";

const TOKEN = "hf_fake_valid_token";
const dialogue = (i: number, tag = "a") => ({ id: `${tag}${i}`, source: "hub", messages: [{ role: "user", content: `问题${tag}${i}：头痛怎么办？` }, { role: "assistant", content: `回答${tag}${i}：多休息，必要时就医。` }] });
const jsonl = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify(dialogue(i, tag))).join("\n") + "\n";

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** A fake Hub as HF_ENDPOINT and a fresh HF_HOME (so no real token file or cache is used). */
async function hubEnv() {
  const hub = await fakeHub();
  const home = await tempDir();
  vi.stubEnv("HF_ENDPOINT", hub.url);
  vi.stubEnv("HF_HOME", home);
  vi.stubEnv("HF_HUB_CACHE", "");
  vi.stubEnv("HUGGINGFACE_HUB_CACHE", "");
  vi.stubEnv("HF_TOKEN", "");
  vi.stubEnv("HUGGING_FACE_HUB_TOKEN", "");
  vi.stubEnv("HF_TOKEN_PATH", "");
  vi.stubEnv("HF_HUB_OFFLINE", "");
  return { hub, home, cache: path.join(home, "hub") };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("hf://datasets inputs on the command line", () => {
  it("stats/validate/sample/convert/dedup read a Hub glob through the cache, then offline", async () => {
    const { hub, cache } = await hubEnv();
    const sha = hub.addRepo({ id: "org/med", files: { "data/train-00000.jsonl": jsonl(3, "a"), "data/train-00001.jsonl": jsonl(400, "b"), "README.md": "# med" } });
    const dir = await tempDir();
    const s = await capture(["stats", "hf://datasets/org/med/data/*.jsonl", "--json"]);
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    const stats = JSON.parse(s.stdout) as Array<{ file: string; stats: { records: number } }>;
    expect(stats.map((x) => [path.basename(x.file), x.stats.records])).toEqual([["train-00000.jsonl", 3], ["train-00001.jsonl", 400]]);
    expect(stats[0]!.file).toBe(path.join(cache, "datasets--org--med", "snapshots", sha, "data", "train-00000.jsonl"));

    // Offline, with the Hub gone: the same answers from the cache.
    await hub.close();
    vi.stubEnv("HF_HUB_OFFLINE", "1");
    expect((await capture(["stats", "hf://datasets/org/med/data/*.jsonl", "--json"])).stdout).toBe(s.stdout);
    const v = await capture(["validate", "hf://datasets/org/med@main/data/train-00000.jsonl", "--schema", "dialogue", "-o", path.join(dir, "v.jsonl")]);
    expect(v.code).toBe(0);
    expect((await readFile(path.join(dir, "v.jsonl"), "utf8")).trim().split("\n")).toHaveLength(3);
    const sm = await capture(["sample", "hf://datasets/org/med/data/train-00001.jsonl", "-n", "5", "-o", path.join(dir, "s.jsonl")]);
    expect(sm.code).toBe(0);
    expect((await readFile(path.join(dir, "s.jsonl"), "utf8")).trim().split("\n")).toHaveLength(5);
    const cv = await capture(["convert", "--from", "dialogue", "hf://datasets/org/med/data/*.jsonl", "-o", path.join(dir, "c.jsonl")]);
    expect(cv.code).toBe(0);
    expect((await readFile(path.join(dir, "c.jsonl"), "utf8")).trim().split("\n")).toHaveLength(403);
    const dd = await capture(["dedup", "hf://datasets/org/med/data/*.jsonl", "hf://datasets/org/med/data/train-00000.jsonl", "-o", path.join(dir, "d.jsonl")]);
    expect(dd.code).toBe(0);
    expect((await readFile(path.join(dir, "d.jsonl"), "utf8")).trim().split("\n").length).toBeLessThanOrEqual(403);

    // Something never fetched: a clear offline error naming it.
    const miss = await capture(["stats", "hf://datasets/org/med/README.md"]);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toMatch(/HubOfflineError: hf:\/\/datasets\/org\/med\/README\.md: org\/med: HF_HUB_OFFLINE is set and the cache has no file "README\.md"/);
    const many = await capture(["validate", "hf://datasets/org/med/data/*.jsonl", "--schema", "dialogue", "-o", path.join(dir, "x.jsonl")]);
    expect(many.code).toBe(2);
    expect(many.stderr).toContain("matches 2 files");
  });

  it("a gated repo without a token: exit 1 with a 401 message that says how to authenticate; HF_TOKEN opens it", async () => {
    const { hub } = await hubEnv();
    hub.addRepo({ id: "org/gated", files: { "a.jsonl": jsonl(2, "g") }, gated: true });
    const r = await capture(["stats", "hf://datasets/org/gated/a.jsonl"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HubAuthError: hf:\/\/datasets\/org\/gated\/a\.jsonl: org\/gated: HTTP 401: .*HF_TOKEN/);
    vi.stubEnv("HF_TOKEN", TOKEN);
    expect((await capture(["stats", "hf://datasets/org/gated/a.jsonl", "--json"])).code).toBe(0);
  });

  it("resumes a download the server cut, and never writes or prints the token", async () => {
    const { hub, home } = await hubEnv();
    const secret = "hf_fake_valid_token";
    vi.stubEnv("HF_TOKEN", secret);
    const big = jsonl(1500, "r");
    hub.addRepo({ id: "org/big", files: { "big.jsonl": big }, gated: true });
    hub.dropOnce("big.jsonl");
    const dir = await tempDir();
    const r = await capture(["convert", "--from", "dialogue", "hf://datasets/org/big/big.jsonl", "-o", path.join(dir, "out.jsonl")]);
    expect(r.code).toBe(0);
    const gets = hub.requests.filter((q) => q.method === "GET" && q.url.startsWith("/lfs-cdn/"));
    expect(gets).toHaveLength(2);
    expect(gets[1]!.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(hub.sent.get("big.jsonl")).toBe(Buffer.byteLength(big));
    expect((await readFile(path.join(dir, "out.jsonl"), "utf8")).trim().split("\n")).toHaveLength(1500);
    // The token went out only as a header; no file written and no output holds it.
    expect(r.stdout + r.stderr).not.toContain(secret);
    for (const f of [...(await walk(home)), ...(await walk(dir))]) expect(await readFile(f, "utf8"), f).not.toContain(secret);
    const bad = await capture(["stats", "hf://datasets/org/big/none.jsonl"]);
    vi.stubEnv("HF_TOKEN", "hf_someOtherTokenXYZ123");
    const bad2 = await capture(["stats", "hf://datasets/org/big/big.jsonl@x"]);
    expect(bad.code + bad2.code).toBe(2);
    expect(bad.stderr + bad2.stderr).not.toMatch(/fake_valid|OtherToken/);
  });
});

describe("bad Hub inputs", () => {
  it("each exits non-zero naming the URI as written (2 for a malformed one) and never prints the token", async () => {
    const { hub, home } = await hubEnv();
    hub.addRepo({ id: "org/med", files: { "data/a.jsonl": jsonl(2, "a") } });
    hub.addRepo({ id: "org/gated", files: { "a.jsonl": jsonl(2, "g") }, gated: true });
    const cases: Array<[string, number, RegExp]> = [
      ["hf://datasets/org/med/data/missing.jsonl", 1, /HubError: .*: org\/med: data\/missing\.jsonl@[0-9a-f]{40}: not found \(HTTP 404\)/],
      ["hf://datasets/org/med@v9/data/a.jsonl", 1, /HubError: .*: org\/med: revision "v9": revision not found/],
      ["hf://datasets/org/med/data/*.parquet", 1, /HubError: .*: org\/med: no file matching "data\/\*\.parquet" at main/],
      ["hf://datasets/org/nothere/a.jsonl", 1, /HubAuthError: .*: org\/nothere: HTTP 401: no such repo, or it is private or gated and no token was given/],
      ["hf://datasets/org", 2, /UsageError: .*names no repo/],
      ["hf://datasets/org/med@/data/a.jsonl", 2, /UsageError: .*empty revision/],
      ["hf://datasets/org/med@%E0%A4%A/data/a.jsonl", 2, /UsageError: .*not valid URL encoding/],
    ];
    for (const [uri, code, message] of cases) {
      const r = await capture(["stats", uri]);
      expect([uri, r.code]).toEqual([uri, code]);
      expect(r.stderr).toContain(uri);
      expect(r.stderr).toMatch(message);
    }

    const secret = "hf_wrongSecretToken12345";
    vi.stubEnv("HF_TOKEN", secret);
    const wrong = await capture(["stats", "hf://datasets/org/gated/a.jsonl"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/HubAuthError: hf:\/\/datasets\/org\/gated\/a\.jsonl: org\/gated: HTTP 401: the token given has no access/);
    expect(wrong.stdout + wrong.stderr).not.toContain(secret);

    vi.stubEnv("HF_TOKEN", "");
    vi.stubEnv("HF_HUB_OFFLINE", "1");
    vi.stubEnv("HF_HOME", path.join(home, "empty"));
    const off = await capture(["stats", "hf://datasets/org/med/data/a.jsonl"]);
    expect(off.code).toBe(1);
    expect(off.stderr).toMatch(/HubOfflineError: hf:\/\/datasets\/org\/med\/data\/a\.jsonl: org\/med: HF_HUB_OFFLINE is set and the cache has no ref "main"/);
  });

  it("stats streams Hub Parquet by range requests: nothing is downloaded into the cache", async () => {
    const { hub, cache } = await hubEnv();
    const dir = await tempDir();
    const { writeParquet } = await import("@sfmed/schema/parquet");
    const f = path.join(dir, "big.parquet");
    await writeParquet(f, Array.from({ length: 300 }, (_, i) => dialogue(i, "s")), { rowGroupSize: 50 });
    hub.addRepo({ id: "org/large", files: { "raw.jsonl": "{}\n" } });
    const sha = hub.commit("dataset", "org/large", { "default/train/0000.parquet": await readFile(f) }, "refs/convert/parquet");
    const r = await capture(["stats", "hf://datasets/org/large@refs%2Fconvert%2Fparquet/default/train/*.parquet", "--json", "--schema", "dialogue"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ file: `hf://datasets/org/large@${sha}/default/train/0000.parquet`, stats: { records: 300 } });
    const reads = hub.requests.filter((q) => q.method === "GET" && (q.url.includes("/resolve/") || q.url.startsWith("/lfs-cdn/")));
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((q) => /^bytes=\d+-\d+$/.test(String(q.headers.range))), JSON.stringify(reads.map((q) => [q.url, q.headers.range]))).toBe(true);
    expect(await readdir(path.join(cache, "datasets--org--large", "blobs")).catch(() => [])).toEqual([]);
  });

  it("dedup reads Hub Parquet shards (as docs/hub.md shows)", async () => {
    const { hub } = await hubEnv();
    const dir = await tempDir();
    const { writeParquet } = await import("@sfmed/schema/parquet");
    const shards: Record<string, Buffer> = {};
    for (const s of [0, 1]) {
      const f = path.join(dir, `s${s}.parquet`);
      // Shard 1 repeats shard 0's first two records.
      await writeParquet(f, [...(s === 1 ? [dialogue(0, "p0"), dialogue(1, "p0")] : []), ...Array.from({ length: 4 }, (_, i) => dialogue(i, `p${s}`))]);
      shards[`data/train-0000${s}-of-00002.parquet`] = await readFile(f);
    }
    hub.addRepo({ id: "org/med-sft", files: shards });
    const out = path.join(dir, "kept.jsonl");
    const r = await capture(["dedup", "hf://datasets/org/med-sft/data/train-*.parquet", "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("10 records → 8 kept, 2 removed");
    const kept = (await readFile(out, "utf8")).trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id);
    expect(kept).toEqual(["p00", "p01", "p02", "p03", "p10", "p11", "p12", "p13"]);
  });
});

describe("Hub model ids", () => {
  async function modelRepo(values: number[]) {
    const dir = await tempDir();
    await writeSafetensors({ path: path.join(dir, "model.safetensors"), tensors: [{ name: "w", dtype: "F32", shape: [2, 2], data: Float32Array.from(values) }] });
    return { "model.safetensors": await readFile(path.join(dir, "model.safetensors")), "config.json": "{}", "tokenizer.json": "{}", "README.md": "# m", "training_args.bin": "x" };
  }

  it("sfmed merge --base ORG/A --models ORG/B fetches snapshots of the weights, config and tokenizer", async () => {
    const { hub, cache } = await hubEnv();
    const a = hub.addRepo({ type: "model", id: "org/base", files: await modelRepo([1, 1, 1, 1]) });
    hub.addRepo({ type: "model", id: "org/ft", files: await modelRepo([2, 0, 1, 3]) });
    const out = path.join(await tempDir(), "out");
    const r = await capture(["merge", "--method", "task_arithmetic", "--base", "org/base", "--models", "org/ft@main", "-o", out]);
    expect(r.stderr).toContain("merged 1 tensors");
    expect(r.code).toBe(0);
    const ck = await Checkpoint.open(out);
    expect([...(await ck.readF32("w"))]).toEqual([2, 0, 1, 3]);
    await ck.close();
    const snap = path.join(cache, "models--org--base", "snapshots", a);
    expect((await readdir(snap)).sort()).toEqual(["config.json", "model.safetensors", "tokenizer.json"]);
    expect((await stat(path.join(cache, "models--org--base", "refs", "main"))).isFile()).toBe(true);
  });

  it("a job's model: written as a Hub id becomes the cached snapshot folder", async () => {
    const { hub } = await hubEnv();
    const sha = hub.addRepo({ type: "model", id: "Qwen/Tiny-0.5B", files: await modelRepo([1, 2, 3, 4]) });
    const jobs = await tempDir();
    const config = path.join(jobs, "sft.yaml");
    const snap = await hubModelOfJob(path.join(jobs, "Qwen/Tiny-0.5B"), config, {}, true);
    expect(snap.endsWith(path.join("models--Qwen--Tiny-0.5B", "snapshots", sha))).toBe(true);
    expect(await hubModelOfJob(path.join(process.cwd(), "x"), config, { model: "hf://Qwen/Tiny-0.5B" }, true)).toBe(snap);
    // A local folder stays as it is.
    expect(await hubModelOfJob(jobs, config, {}, true)).toBe(jobs);
  });
});

describe("sfmed push", () => {
  it("push dataset writes Parquet shards and a card; the pushed records read back through hf://", async () => {
    const { hub, home } = await hubEnv();
    vi.stubEnv("HF_TOKEN", TOKEN);
    const dir = await tempDir();
    const a = path.join(dir, "a.jsonl");
    const b = path.join(dir, "b.jsonl");
    await writeFile(a, jsonl(30, "a"));
    await writeFile(b, jsonl(20, "b"));
    await writeFile(path.join(dir, "dedup.json"), JSON.stringify({ counts: { input: 60, kept: 50, removed: 10 } }));
    const r = await capture([
      "push", "dataset", a, b, "org/pushed", "--schema", "dialogue", "--max-shard-bytes", "4000", "--license", "apache-2.0",
      "--pretty-name", "SF-Med SFT", "--source-dataset", "shibing624/medical", "--command", "sfmed dedup raw.jsonl -o a.jsonl", "--report", path.join(dir, "dedup.json"),
    ]);
    expect(r.stderr).toMatch(/push: 50 records in \d+ shards → org\/pushed \(commit [0-9a-f]{10}\)/);
    expect(r.code).toBe(0);
    const files = hub.files("dataset", "org/pushed")!;
    const card = files.get("README.md")!.toString("utf8");
    expect(parseYaml(/^---\n([\s\S]*?)\n---/.exec(card)![1]!)).toMatchObject({
      license: "apache-2.0",
      language: ["zh"],
      pretty_name: "SF-Med SFT",
      source_datasets: ["shibing624/medical"],
      configs: [{ config_name: "default", data_files: [{ split: "train", path: "data/train-*" }] }],
    });
    expect(card).toContain("sfmed dedup raw.jsonl -o a.jsonl");
    expect(card).toContain("dedup.json: input 60, kept 50, removed 10");
    // Read back by URI: stats streams the shards by range requests; convert fetches them and keeps the order.
    const st = await capture(["stats", "hf://datasets/org/pushed/data/*.parquet", "--json", "--schema", "dialogue"]);
    expect(st.code).toBe(0);
    const shards = JSON.parse(st.stdout) as Array<{ file: string; stats: { records: number } }>;
    expect(shards.length).toBeGreaterThan(1);
    expect(shards.every((s) => /^hf:\/\/datasets\/org\/pushed@[0-9a-f]{40}\/data\/train-\d{5}-of-\d{5}\.parquet$/.test(s.file))).toBe(true);
    expect(shards.reduce((a, s) => a + s.stats.records, 0)).toBe(50);
    const backFile = path.join(home, "back.jsonl");
    const conv = await capture(["convert", "--from", "dialogue", "hf://datasets/org/pushed/data/*.parquet", "-o", backFile]);
    expect(conv.code, conv.stderr).toBe(0);
    const back = await readFile(backFile, "utf8");
    expect(back).toBe(jsonl(30, "a") + jsonl(20, "b"));
    // The token went out as a header only.
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    for (const f of await walk(home)) expect(await readFile(f, "utf8"), f).not.toContain(TOKEN);

    vi.stubEnv("HF_TOKEN", "");
    const no = await capture(["push", "dataset", a, "org/pushed"]);
    expect(no.code).toBe(1);
    expect(no.stderr).toMatch(/org\/pushed: pushing needs a token .*HF_TOKEN/);
    expect((await capture(["push", "dataset", a, "not-a-repo"])).code).toBe(2);
  });

  it("push model opens a pull request with a model card (base_model, model-index)", async () => {
    const { hub } = await hubEnv();
    vi.stubEnv("HF_TOKEN", TOKEN);
    const dir = await tempDir();
    const ck = path.join(dir, "ck");
    await mkdir(ck);
    await writeSafetensors({ path: path.join(ck, "model.safetensors"), tensors: [{ name: "w", dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) }] });
    await writeFile(path.join(ck, "config.json"), "{}");
    const results = path.join(dir, "results.json");
    await writeFile(results, JSON.stringify([{ task: "text-generation", dataset: { name: "CMB-Exam", type: "FreedomIntelligence/CMB" }, metrics: [{ type: "accuracy", value: 0.5 }] }]));
    expect((await capture(["push", "model", ck, "org/m", "--base-model", "Qwen/Qwen2.5-0.5B", "--private"])).code).toBe(0);
    expect(hub.isPrivate("model", "org/m")).toBe(true);
    const r = await capture(["push", "model", ck, "org/m", "--base-model", "Qwen/Qwen2.5-0.5B", "--results", results, "--create-pr"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/pull request .*discussions\/1/);
    const card = hub.files("model", "org/m", "refs/pr/1")!.get("README.md")!.toString();
    const meta = parseYaml(/^---\n([\s\S]*?)\n---/.exec(card)![1]!) as Record<string, unknown>;
    expect(meta.base_model).toBe("Qwen/Qwen2.5-0.5B");
    expect(meta["model-index"]).toEqual([{ name: "m", results: [{ task: { type: "text-generation" }, dataset: { name: "CMB-Exam", type: "FreedomIntelligence/CMB" }, metrics: [{ type: "accuracy", value: 0.5 }] }] }]);
    // Pulled back by id: the weights are the same bytes.
    const merged = path.join(dir, "out");
    expect((await capture(["merge", "--method", "linear", "--models", "org/m", "-o", merged])).code).toBe(0);
  });
});
