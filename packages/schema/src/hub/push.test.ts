import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fakeHub, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { readParquet } from "../parquet.js";
import { sizeCategory, writeDatasetCard, writeModelCard } from "./card.js";
import { pushDataset, pushModel } from "./push.js";
import { resolveHubFiles } from "./resolve.js";

const TOKEN = "hf_fake_valid_token";
const dialogue = (i: number) => ({ id: `d${i}`, source: "hub", messages: [{ role: "user", content: `问题${i}：高血压怎么办？` }, { role: "assistant", content: `回答${i}：低盐饮食。` }] });

function frontMatter(md: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(md);
  expect(m).not.toBeNull();
  return parseYaml(m![1]!) as Record<string, unknown>;
}

describe("cards", () => {
  it("a dataset card's front matter parses to the Hub's metadata keys, whatever the strings hold", () => {
    const md = writeDatasetCard({
      repo: "org/med",
      prettyName: 'SF-Med: "SFT" 数据 #1',
      license: "apache-2.0",
      sourceDatasets: ["FreedomIntelligence/huatuo26M-testdatasets", "shibing624/medical"],
      splits: [
        { name: "train", records: 12345, files: ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"] },
        { name: "test", records: 10, files: ["data/test-00000-of-00001.parquet"] },
      ],
      commands: ["sfmed convert --from huatuo26m raw.jsonl -o h.jsonl", "sfmed dedup h.jsonl -o d.jsonl --report dedup.json"],
      reports: { dedup: "12,400 → 12,355 records (45 near-duplicates)" },
    });
    expect(frontMatter(md)).toEqual({
      license: "apache-2.0",
      language: ["zh"],
      task_categories: ["text-generation", "question-answering"],
      size_categories: ["10K<n<100K"],
      source_datasets: ["FreedomIntelligence/huatuo26M-testdatasets", "shibing624/medical"],
      tags: ["medical", "sfmed"],
      pretty_name: 'SF-Med: "SFT" 数据 #1',
      configs: [{ config_name: "default", data_files: [{ split: "train", path: "data/train-*" }, { split: "test", path: "data/test-*" }] }],
    });
    expect(md).toContain("sfmed dedup h.jsonl -o d.jsonl --report dedup.json");
    expect(md).toContain("**dedup**: 12,400 → 12,355");
    expect(md).toContain('load_dataset("org/med")');
    expect([0, 999, 1000, 99_999, 2e6].map(sizeCategory)).toEqual(["n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]);
  });

  it("a model card carries base_model and a model-index with results", () => {
    const md = writeModelCard({
      repo: "org/sfmed-7b",
      baseModel: "Qwen/Qwen2.5-7B",
      license: "apache-2.0",
      datasets: ["org/med"],
      results: [{ task: "text-generation", dataset: { name: "CMB-Exam", type: "FreedomIntelligence/CMB", split: "test" }, metrics: [{ type: "accuracy", value: 0.6421, name: "Accuracy" }] }],
    });
    const meta = frontMatter(md);
    expect(meta).toMatchObject({ base_model: "Qwen/Qwen2.5-7B", library_name: "transformers", pipeline_tag: "text-generation", datasets: ["org/med"] });
    expect(meta["model-index"]).toEqual([
      { name: "sfmed-7b", results: [{ task: { type: "text-generation" }, dataset: { name: "CMB-Exam", type: "FreedomIntelligence/CMB", split: "test" }, metrics: [{ type: "accuracy", value: 0.6421, name: "Accuracy" }] }] },
    ]);
    expect(md).toContain("| CMB-Exam | Accuracy | 0.6421 |");
    expect(frontMatter(writeModelCard({ repo: "o/m" }))["model-index"]).toEqual([{ name: "m", results: [] }]);
  });
});

describe("pushDataset / pushModel against the loopback hub", () => {
  it("pushes size-bounded Parquet shards and a card; the dataset reads back through the resolver", async () => {
    const hub = await fakeHub();
    const records = Array.from({ length: 50 }, (_, i) => dialogue(i));
    const cache = await tempDir();
    const env = { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, HF_HUB_CACHE: cache, HF_HOME: cache };
    const res = await pushDataset({ repo: "org/pushed", splits: { train: records, test: records.slice(0, 3) }, maxShardBytes: 2000, env, card: { license: "apache-2.0" } });
    const train = res.splits.find((s) => s.name === "train")!;
    expect(train.records).toBe(50);
    expect(train.files.length).toBeGreaterThan(1);
    expect(train.files).toEqual(train.files.map((_, i) => `data/train-${String(i).padStart(5, "0")}-of-${String(train.files.length).padStart(5, "0")}.parquet`));
    const onHub = hub.files("dataset", "org/pushed")!;
    expect([...onHub.keys()].sort()).toEqual([".gitattributes", "README.md", "data/test-00000-of-00001.parquet", ...train.files].sort());
    expect(frontMatter(onHub.get("README.md")!.toString("utf8"))).toMatchObject({ license: "apache-2.0", size_categories: ["n<1K"] });
    // LFS: the shards went through the batch API and basic uploads, not inline in the commit.
    expect(hub.requests.filter((q) => q.method === "PUT" && q.url.startsWith("/lfs-upload/")).length).toBe(train.files.length + 1);

    const back = await resolveHubFiles("hf://datasets/org/pushed/data/train-*.parquet", { env });
    const got: unknown[] = [];
    for (const f of back.files) for await (const r of readParquet(f)) got.push(r.record);
    expect(got).toEqual(records);

    // A smaller second push replaces the split: the old shards are deleted in the same commit.
    await pushDataset({ repo: "org/pushed", splits: { train: records.slice(0, 2) }, env });
    expect([...hub.files("dataset", "org/pushed")!.keys()].filter((p) => p.startsWith("data/train-"))).toEqual(["data/train-00000-of-00001.parquet"]);
    expect(hub.files("dataset", "org/pushed")!.has("data/test-00000-of-00001.parquet")).toBe(true);
  });

  it("pushes a checkpoint folder with a model card, privately, to a branch or as a pull request; needs a token", async () => {
    const hub = await fakeHub();
    const dir = await tempDir();
    await writeFile(path.join(dir, "model.safetensors"), Buffer.alloc(100, 7));
    await writeFile(path.join(dir, "config.json"), "{}");
    await writeFile(path.join(dir, "optimizer.pt"), "state");
    await mkdir(path.join(dir, "checkpoint-10"));
    await writeFile(path.join(dir, "checkpoint-10", "x.bin"), "x");
    const env = { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, HF_HOME: await tempDir() };
    const card = { baseModel: "Qwen/Qwen2.5-0.5B" };
    const r = await pushModel({ repo: "org/m", dir, env, private: true, card });
    expect(r.files).toEqual(["README.md", "config.json", "model.safetensors"]);
    expect(hub.isPrivate("model", "org/m")).toBe(true);
    expect(frontMatter(hub.files("model", "org/m")!.get("README.md")!.toString())).toMatchObject({ base_model: "Qwen/Qwen2.5-0.5B" });
    await writeFile(path.join(dir, "config.json"), '{"v":2}');
    const pr = await pushModel({ repo: "org/m", dir, env, createPr: true, card });
    expect(pr.pullRequestUrl).toMatch(/discussions\/1$/);
    expect(hub.files("model", "org/m", "refs/pr/1")!.get("config.json")!.toString()).toBe('{"v":2}');
    expect(hub.files("model", "org/m")!.get("config.json")!.toString()).toBe("{}");
    await expect(pushModel({ repo: "org/m", dir, env: { HF_ENDPOINT: hub.url, HF_HOME: dir } })).rejects.toMatchObject({ code: "HUB_NO_TOKEN" });
    await expect(pushModel({ repo: "org/m", dir, revision: "nope", env })).rejects.toMatchObject({ name: "HubError", statusCode: 404 });
  });
});
