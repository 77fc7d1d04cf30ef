import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { loopbackServer, sendJson, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const readJsonl = async (f: string) => (await readFile(f, "utf8")).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

/** A fake OpenAI-compatible server: judges pick the response with the highest q=N (judge "lazy" always says A); /score scores by length. */
async function fakeServer() {
  return loopbackServer((req, res) => {
    const body = JSON.parse(req.body) as { model: string; messages?: { content: string }[]; items?: { response: string }[] };
    if (req.url?.endsWith("/score")) return sendJson(res, 200, { scores: body.items!.map((it) => it.response.length * (body.model === "rm-neg" ? -1 : 1)) });
    const text = body.messages![body.messages!.length - 1]!.content;
    const shown = [...text.matchAll(/\[回答 ([A-Z])\]\n([\s\S]*?)\n\[回答 \1 结束\]/g)].map((m) => [m[1]!, Number(/q=(\d+)/.exec(m[2]!)?.[1] ?? 0)] as const);
    const best = body.model === "lazy" ? "A" : [...shown].sort((a, b) => b[1] - a[1])[0]![0];
    sendJson(res, 200, { id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: `理由。\n[[${best}]]` }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 3 } });
  });
}

describe("sfmed pref vote", () => {
  it("votes with three judges, writes pairs, report and checkpoint, and resumes", async () => {
    const dir = await tempDir();
    const server = await fakeServer();
    const input = path.join(dir, "cands.jsonl");
    const sets = Array.from({ length: 6 }, (_, i) => ({ id: `s${i}`, prompt: [{ role: "user", content: `问题${i}` }], responses: [`q=${i % 3}`, "q=7 best", `q=${i % 2}x`] }));
    await writeFile(input, jsonl([...sets, { id: "bad", prompt: [{ role: "user", content: "x" }], responses: ["only one"] }]));
    const out = path.join(dir, "pairs.jsonl");
    const argv = ["pref", "vote", "-i", input, "-o", out, "--base-url", `${server.url}/v1`, "-j", "a", "b", "lazy", "--seed", "3"];
    const r = await capture(argv);
    expect(r.stderr).toContain("pref vote: 6 sets → 6 pairs, 0 dropped, 1 rejected");
    expect(r.code).toBe(0);
    const pairs = await readJsonl(out);
    expect(pairs.map((p) => p.chosen)).toEqual(Array(6).fill("q=7 best"));
    const report = JSON.parse(await readFile(path.join(dir, "pairs.report.json"), "utf8"));
    expect(report.summary).toMatchObject({ input: 7, valid: 6, pairs: 6, rejected: 1, judges: ["a", "b", "lazy"], calls: 18 });
    expect(report.rejected[0]).toMatchObject({ line: 7, id: "bad", reason: "a vote needs at least two responses" });
    expect(report.agreement.judges[2].picksByPosition[0]).toBe(6);
    expect(report.input.sha256).toMatch(/^[0-9a-f]{64}$/);
    const calls = server.requests.length;
    const again = await capture(argv);
    expect(again.code).toBe(0);
    expect(server.requests.length).toBe(calls);
    expect(await readJsonl(out)).toEqual(pairs);
  });

  it("writes no checkpoint with --no-checkpoint", async () => {
    const dir = await tempDir();
    const server = await fakeServer();
    const input = path.join(dir, "c.jsonl");
    await writeFile(input, jsonl([{ id: "s", prompt: [{ role: "user", content: "q" }], responses: ["q=1", "q=2"] }, "not an object"]));
    const out = path.join(dir, "p.jsonl");
    const r = await capture(["pref", "vote", "-i", input, "-o", out, "-j", `a@${server.url}/v1`, `b@${server.url}/v1`, "--no-checkpoint"]);
    expect(r.code).toBe(0);
    expect((await readJsonl(out))[0]).toMatchObject({ chosen: "q=2", rejected: "q=1" });
    expect(await readdir(dir)).toEqual(["c.jsonl", "p.jsonl", "p.rejects.jsonl", "p.report.json"]);
  });

  it("needs a server for each judge", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "c.jsonl");
    await writeFile(input, "");
    const r = await capture(["pref", "vote", "-i", input, "-o", path.join(dir, "o.jsonl"), "-j", "a"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--judge "a" needs a server');
  });
});

describe("sfmed pref score", () => {
  const pairs = Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, prompt: [{ role: "user", content: "q" }], chosen: "c".repeat(i + 1), rejected: "rr" }));

  it("merges per-model score files and trainer-py output, listing unscored pairs", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "pairs.jsonl");
    await writeFile(input, jsonl(pairs));
    const rm1 = path.join(dir, "rm1.jsonl");
    await writeFile(rm1, jsonl(pairs.map((p, i) => ({ id: p.id, chosen: i, rejected: 1 }))));
    const trainer = path.join(dir, "trainer.jsonl");
    await writeFile(trainer, jsonl(pairs.slice(1).map((p, i) => ({ ...p, scores: { chosen: [i, 2 * i], rejected: [0, 0], models: ["seed1", "seed2"] } }))));
    const out = path.join(dir, "scored.jsonl");
    const r = await capture(["pref", "score", "-i", input, "-o", out, "-s", rm1, trainer]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("4 pairs scored by 3 models, 1 unscored");
    const scored = await readJsonl(out);
    expect(scored[0]).toMatchObject({ id: "p1", scores: { chosen: [1, 0, 0], rejected: [1, 0, 0], models: ["rm1", "seed1", "seed2"] } });
    const rejects = await readJsonl(path.join(dir, "scored.rejects.jsonl"));
    expect(rejects).toEqual([{ id: "p0", line: 1, file: input, missing: ["seed1", "seed2"], reason: "not scored by seed1, seed2" }]);
  });

  it("scores with reward-model servers", async () => {
    const dir = await tempDir();
    const server = await fakeServer();
    const input = path.join(dir, "pairs.jsonl");
    await writeFile(input, jsonl(pairs));
    const out = path.join(dir, "scored.jsonl");
    const r = await capture(["pref", "score", "-i", input, "-o", out, "--rm", `rm-pos@${server.url}/v1`, `rm-neg@${server.url}/v1`, "--batch-size", "2"]);
    expect(r.code).toBe(0);
    const scored = await readJsonl(out);
    expect(scored[2]!.scores).toEqual({ chosen: [3, -3], rejected: [2, -2], models: ["rm-pos", "rm-neg"] });
    expect(server.requests.filter((q) => q.url.endsWith("/score"))).toHaveLength(6);
  });

  it("asks for a score source", async () => {
    const r = await capture(["pref", "score", "-i", "x", "-o", "y"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("give score files (--scores) or reward models (--rm)");
  });
});

describe("sfmed pref select", () => {
  const scored = Array.from({ length: 30 }, (_, i) => ({
    id: `p${String(i).padStart(2, "0")}`,
    prompt: [{ role: "user", content: "q" }],
    chosen: `c${i}`,
    rejected: `r${i}`,
    scores: { chosen: [i - 5, i - 4, i - 6], rejected: [0, 0, 0] },
  }));

  it("flips, drops, and writes report, plot and rejects", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "scored.jsonl");
    await writeFile(input, jsonl(scored) + '{"id":"nan", "broken\n' + JSON.stringify({ ...scored[0], id: "short", scores: { chosen: [1], rejected: [0] } }) + "\n");
    const out = path.join(dir, "sel.jsonl");
    const dropped = path.join(dir, "dropped.jsonl");
    const r = await capture(["pref", "select", "-i", input, "-o", out, "--flip", "0.1", "--drop", "0.2", "--dropped", dropped]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("30 pairs over 3 reward models → 21 kept, 3 flipped, 6 dropped; 2 rejected");
    const sel = await readJsonl(out);
    expect(sel).toHaveLength(24);
    expect(sel[0]).toMatchObject({ id: "p00", chosen: "r0", rejected: "c0", margin: 5, meta: { action: "flipped", strength: 5 } });
    expect((await readJsonl(dropped)).map((p) => p.id)).toEqual(["p24", "p25", "p26", "p27", "p28", "p29"]);
    const report = JSON.parse(await readFile(path.join(dir, "sel.report.json"), "utf8"));
    expect(report.summary).toMatchObject({ input: 32, valid: 30, kept: 21, flipped: 3, dropped: 6, rejected: 2 });
    expect(report.groups).toHaveLength(20);
    expect(report.rejected.map((x: { line: number }) => x.line)).toEqual([31, 32]);
    expect(report.rejected[1].reason).toBe("1 model scores, expected 3");
    const svg = await readFile(path.join(dir, "sel.strength.svg"), "utf8");
    expect(svg.match(/<circle /g)).toHaveLength(30);
  });

  it("refuses bad fractions and, with --strict, any rejected row", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "scored.jsonl");
    await writeFile(input, jsonl([...scored, { ...scored[0], id: "x", scores: undefined }]));
    const out = path.join(dir, "sel.jsonl");
    expect((await capture(["pref", "select", "-i", input, "-o", out, "--flip", "1.2"])).stderr).toContain("--flip must be a fraction between 0 and 1");
    expect((await capture(["pref", "select", "-i", input, "-o", out, "--flip", "0.6", "--drop", "0.5"])).code).toBe(2);
    const strict = await capture(["pref", "select", "-i", input, "-o", out, "--strict"]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain(`1 rows rejected, first ${input}:31 field scores: missing reward-model scores`);
  });
});
