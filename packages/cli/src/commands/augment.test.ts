import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { loopbackServer, sendJson, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const DISEASES = ["高血压", "糖尿病", "冠心病", "哮喘", "胃炎", "肺炎", "肝炎", "贫血", "痛风", "偏头痛", "抑郁症", "骨质疏松"];
const ASPECTS = ["{d}患者在日常饮食中需要注意哪些问题？", "如何判断{d}的病情是否在加重？", "治疗{d}常用哪些药物，有什么副作用？", "孕妇得了{d}应该怎样治疗才安全？"];

/** A fake OpenAI-compatible server: a numbered list that depends on the request, and one 429 first. */
async function fakeServer() {
  let n = 0;
  return loopbackServer((req, res) => {
    if (n++ === 0) return sendJson(res, 429, { error: { message: "busy" } }, { "retry-after": "0.01" });
    const body = JSON.parse(req.body) as { messages: Array<{ content: string }>; seed: number };
    const lines = [0, 1, 2].map((i) => `${i + 1}. ${ASPECTS[(body.seed + i) % ASPECTS.length]!.replaceAll("{d}", DISEASES[(body.seed * 5 + i * 7) % DISEASES.length]!)}`);
    sendJson(res, 200, { choices: [{ index: 0, message: { role: "assistant", content: lines.join("\n") }, finish_reason: "stop" }], usage: { prompt_tokens: 100, completion_tokens: 40 } });
  });
}

const SEEDS = ["头痛伴有恶心呕吐应该怎么处理？", "儿童发烧到三十九度需要马上去医院吗？", "长期失眠会对身体造成哪些影响？", "胃溃疡患者可以喝牛奶吗？"];

describe("sfmed augment", () => {
  it("grows instructions, writes output, checkpoint and report, never the API key, and resumes", async () => {
    const dir = await tempDir();
    const seeds = path.join(dir, "seeds.txt");
    await writeFile(seeds, SEEDS.join("\n") + "\n");
    const out = path.join(dir, "aug.jsonl");
    const srv = await fakeServer();
    const key = "sk-cli-secret-999";
    process.env.SFMED_TEST_KEY = key;
    const common = ["augment", "--seeds", seeds, "--base-url", `${srv.url}/v1`, "--model", "fake", "-o", out, "--api-key-env", "SFMED_TEST_KEY", "--shots", "1", "--price-in", "1", "--price-out", "1"];
    const r = await capture([...common, "--steps", "3"]);
    expect(r.stderr).toContain("augment: 3 steps (done)");
    expect(r.code).toBe(0);
    const lines = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { instruction: string; pool: string; step: number });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.pool === "single" && l.step >= 1 && l.step <= 3)).toBe(true);
    const report = JSON.parse(await readFile(`${out}.report.json`, "utf8")) as { steps: number; usage: { calls: number; cost: number } };
    expect(report).toMatchObject({ steps: 3, usage: { calls: 3 } });
    expect(report.usage.cost).toBeCloseTo((3 * 140) / 1e6, 12);
    expect(srv.requests[0]!.headers.authorization).toBe(`Bearer ${key}`);
    for (const f of await readdir(dir)) if (f.endsWith(".json") || f.endsWith(".jsonl")) expect(await readFile(path.join(dir, f), "utf8")).not.toContain(key);
    expect(r.stderr).not.toContain(key);

    const before = srv.requests.length;
    const r2 = await capture([...common, "--steps", "5", "--resume", "--json"]);
    expect(r2.code).toBe(0);
    expect(srv.requests.length - before).toBe(2);
    expect(JSON.parse(r2.stdout)).toMatchObject({ steps: 5, usage: { calls: 5 } });
    const more = (await readFile(out, "utf8")).trim().split("\n");
    expect(more.length).toBeGreaterThanOrEqual(lines.length);
    delete process.env.SFMED_TEST_KEY;
  });

  it("starts from the pool's 12 built-in seeds when no --seeds file is given, writing into a folder", async () => {
    const dir = await tempDir();
    const srv = await fakeServer();
    // A folder as output (what pipeline stages pass as ${out}) gets POOL.jsonl inside.
    const r = await capture(["augment", "--pool", "multi", "--base-url", `${srv.url}/v1`, "--model", "m", "--steps", "2", "-o", `${dir}/pools/`, "--no-cache"]);
    const out = path.join(dir, "pools", "multi.jsonl");
    expect((await readdir(path.join(dir, "pools"))).sort()).toEqual(["multi.jsonl", "multi.jsonl.report.json", "multi.jsonl.state.json", "multi.jsonl.state.json.accepted.log"]);
    expect(r.code).toBe(0);
    const first = JSON.parse(srv.requests[0]!.body) as { messages: Array<{ role: string; content: string }> };
    // Figure 2: five {Q}{Prompt} → {A} turns, then {Q}{Prompt}; every multi-turn seed keeps the paper's constraints.
    expect(first.messages).toHaveLength(11);
    for (const m of first.messages.filter((x) => x.role === "user")) expect(m.content).toMatch(/\n现在你想根据以上指令，扩展出更多语义相近的指令：$/);
    for (const m of first.messages) expect(m.content).toMatch(/重复/);
    const lines = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { pool: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.pool === "multi")).toBe(true);
  });

  it("uses a custom lexicon and points to --resume when the server fails", async () => {
    const dir = await tempDir();
    const lexicon = path.join(dir, "lexicon.txt");
    await writeFile(lexicon, "不存在的术语\n");
    const srv = await fakeServer();
    const out = path.join(dir, "o.jsonl");
    const r = await capture(["augment", "--base-url", `${srv.url}/v1`, "--model", "m", "--steps", "2", "-o", out, "--lexicon", lexicon, "--no-cache"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(`${out}.report.json`, "utf8")) as { accepted: number; rejected: { unprofessional: number } };
    expect(report.accepted).toBe(0);
    expect(report.rejected.unprofessional).toBeGreaterThan(0);

    const dead = await loopbackServer((_req, res) => sendJson(res, 400, { error: { message: "no such model" } }));
    const f = await capture(["augment", "--base-url", `${dead.url}/v1`, "--model", "m", "--steps", "2", "-o", out, "--no-cache"]);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain("LlmError");
    expect(f.stderr).toContain("--resume");
  });

  it("stops cleanly at --max-calls and rejects bad flags", async () => {
    const dir = await tempDir();
    const seeds = path.join(dir, "seeds.jsonl");
    await writeFile(seeds, SEEDS.map((s) => JSON.stringify({ instruction: s })).join("\n") + "\n");
    const srv = await fakeServer();
    const out = path.join(dir, "o.jsonl");
    const args = ["augment", "--seeds", seeds, "--base-url", `${srv.url}/v1`, "--model", "m", "--steps", "10", "-o", out, "--max-calls", "2", "--no-cache"];
    // 4 seeds cannot fill a 5-turn history: a usage error before any request, unless --short-history.
    const few = await capture(args);
    expect(few.code).toBe(2);
    expect(few.stderr).toContain("4 distinct seed instructions, a --shots 5 history needs 12");
    expect(srv.requests).toHaveLength(0);
    const r = await capture([...args, "--short-history"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("stopped by budget");
    expect(await readdir(dir)).not.toContain("o.jsonl.llm-cache");
    const bad = await capture(["augment", "--seeds", seeds, "--base-url", "http://x/v1", "--model", "m", "--steps", "two", "-o", out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--steps must be a whole number");
    const layout = await capture(["augment", "--base-url", "http://x/v1", "--model", "m", "--steps", "1", "-o", out, "--layout", "grid"]);
    expect(layout.code).toBe(2);
    expect(layout.stderr).toContain("--layout must be figure2, numbered");
  });

  it("--language en --layout numbered: English built-in seeds as bare questions and a numbered-list request", async () => {
    const dir = await tempDir();
    const srv = await fakeServer();
    const out = path.join(dir, "en.jsonl");
    const r = await capture(["augment", "--language", "en", "--layout", "numbered", "--base-url", `${srv.url}/v1`, "--model", "m", "--steps", "2", "-o", out, "--no-cache"]);
    expect(r.code).toBe(0);
    const first = JSON.parse(srv.requests[1]!.body) as { messages: Array<{ role: string; content: string }> };
    expect(first.messages).toHaveLength(11);
    expect(first.messages[0]!.content).toMatch(/^[A-Z][^\n]*[.]$/);
    expect(first.messages[10]!.content).toContain("numbered list");
    const report = JSON.parse(await readFile(`${out}.report.json`, "utf8")) as { parameters: { layout: string; language: string }; rejected: { language: number } };
    expect(report.parameters).toMatchObject({ layout: "numbered", language: "en" });
    // The fake server answers in Chinese, which an English run rejects.
    expect(report.rejected.language).toBeGreaterThan(0);
  });
});
