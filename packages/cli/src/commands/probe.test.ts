import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { formatWinTieLoss, reservoirSample } from "@sfmed/eval-metrics";
import { gateDecision, readGateFile, type GateFile } from "@sfmed/privacy-probe";
import { loopbackServer, readSample, sendJson, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const SAFE = "抱歉，我不能复述训练数据。";
const DIM = 48;

/** Mean-pooled bag of character bigrams, permuted per layer: a stand-in for serve's hidden states. */
function embed(text: string, layer: number): Float32Array {
  const v = new Float32Array(DIM);
  const cs = Array.from(text);
  for (let i = 0; i + 1 < cs.length; i++) {
    let h = 2166136261 ^ layer;
    for (const ch of cs[i]! + cs[i + 1]!) h = Math.imul(h ^ ch.codePointAt(0)!, 16777619);
    v[(h >>> 0) % DIM]! += 1 / Math.max(1, cs.length - 1);
  }
  return v;
}

/**
 * A loopback stand-in for trainer-py serve: it has memorized some documents (continues them verbatim when the prompt
 * ends with their start), embeds at any layer, and — when given a gate file — answers SAFE where the gate fires.
 */
async function fakeServe(memorized: string[], gateFile?: string) {
  let gate: GateFile | undefined;
  return loopbackServer(async (req, res) => {
    const body = JSON.parse(req.body) as { prompt?: string; input?: string[]; max_tokens?: number; layer?: number; logprobs?: number };
    if (req.url === "/v1/embeddings") {
      const data = body.input!.map((t, index) => ({ index, embedding: Array.from(embed(t, body.layer ?? 0)) }));
      return sendJson(res, 200, { data, usage: { prompt_tokens: 1 } });
    }
    const prompt = body.prompt!;
    if (gateFile && !gate) gate = await readGateFile(gateFile);
    let text = "这个问题需要结合具体情况，建议咨询医生。";
    let lp = -2.5;
    if (gate && gateDecision(embed(prompt, gate.layer), gate).hit) text = SAFE;
    else
      for (const doc of memorized)
        for (let k = Math.min(prompt.length, doc.length - 1); k >= 4; k--)
          if (doc.startsWith(prompt.slice(prompt.length - k))) {
            text = doc.slice(k);
            lp = -0.05;
            k = 0;
          }
    const chars = Array.from(text).slice(0, body.max_tokens ?? 16);
    const logprobs = body.logprobs ? { tokens: chars, token_logprobs: chars.map(() => lp) } : null;
    sendJson(res, 200, { choices: [{ text: chars.join(""), finish_reason: "length", logprobs }], usage: { prompt_tokens: prompt.length, completion_tokens: chars.length } });
  });
}

interface Huatuo {
  instruction: string[];
  output: string[];
}

describe("sfmed probe", () => {
  it("memorization → build-gate → eval-gate on a fake served model", async () => {
    const dir = await tempDir();
    const items = (JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as Huatuo[]).slice(0, 12);
    const docs = items.map((it, i) => ({ id: `h${i}`, text: it.instruction[0]! + Array.from(it.output[0]!).slice(0, 60).join("") }));
    const data = path.join(dir, "train.jsonl");
    await writeFile(data, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
    const held = path.join(dir, "held.jsonl");
    const heldDocs = (JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as Huatuo[]).slice(100, 108).map((it, i) => ({ id: `x${i}`, text: it.instruction[0]! }));
    await writeFile(held, heldDocs.map((d) => JSON.stringify(d)).join("\n") + "\n");
    const memorized = [docs[2]!.text, docs[5]!.text, docs[9]!.text];
    const serve = await fakeServe(memorized);
    const out = path.join(dir, "out");

    const m = await capture(["-q", "probe", "memorization", "--base-url", `${serve.url}/v1`, "--model", "tiny", "--data", data, "-o", out, "--concurrency", "3"]);
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
    expect(m.stdout).toContain("memorized 3 of 12 (25.00%)");
    const report = JSON.parse(await readFile(path.join(out, "memorization.json"), "utf8")) as { report: { memorizedIds: string[]; histogram: { counts: number[] } }; inputs: { sha256: string }[] };
    expect(report.report.memorizedIds).toEqual(["h2", "h5", "h9"]);
    expect(report.inputs[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const calls = serve.requests.length;
    // Rerun: everything comes from memorization.jsonl.
    const again = await capture(["-q", "probe", "memorization", "--base-url", `${serve.url}/v1`, "--model", "tiny", "--data", data, "-o", out]);
    expect(again.code).toBe(0);
    expect(serve.requests.length).toBe(calls);

    const g = await capture(["-q", "probe", "build-gate", "--base-url", `${serve.url}/v1`, "--model", "tiny", "--results", path.join(out, "memorization.jsonl"), "--layer", "7", "--safe-response", SAFE, "-o", out]);
    expect(g.stderr).toBe("");
    expect(g.code).toBe(0);
    const gate = JSON.parse(await readFile(path.join(out, "gate.json"), "utf8")) as GateFile;
    expect(gate).toMatchObject({ version: 1, layer: 7, threshold: 0.8, dim: DIM });
    expect(gate.entries).toHaveLength(3);
    expect(existsSync(path.join(out, "high-risk.bin"))).toBe(true);
    const embedBodies = serve.requests.filter((r) => r.url === "/v1/embeddings").map((r) => JSON.parse(r.body) as { layer: number; pooling: string });
    expect(embedBodies.every((b) => b.layer === 7 && b.pooling === "mean")).toBe(true);

    const gated = await fakeServe(memorized, path.join(out, "gate.json"));
    const e = await capture(["-q", "probe", "eval-gate", "--base-url", `${serve.url}/v1`, "--model", "tiny", "--gated-base-url", `${gated.url}/v1`, "--results", path.join(out, "memorization.jsonl"), "--held-out", held, "-o", out]);
    expect(e.stderr).toBe("");
    expect(e.code).toBe(0);
    const ev = JSON.parse(await readFile(path.join(out, "eval-gate.json"), "utf8")) as { report: { memorized: { leakRateUngated: number; leakRateGated: number }; heldOut: { n: number; changedIds: string[] } } };
    expect(ev.report.memorized).toMatchObject({ leakRateUngated: 1, leakRateGated: 0 });
    expect(ev.report.heldOut.n).toBe(8);
    const fires = heldDocs.filter((d) => gateDecision(embed(`${Array.from(d.text).slice(0, Math.round(Array.from(d.text).length / 2)).join("")}`, 7), gate).hit).map((d) => d.id);
    expect(ev.report.heldOut.changedIds).toEqual(fires);
    expect(e.stdout).toContain("leak rate 100.00% → 0.00% on 3 memorized");
  });

  it("memorization --sample n --seed s probes a seeded random subset; --limit the first n", async () => {
    const dir = await tempDir();
    const items = (JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as Huatuo[]).slice(0, 30);
    const docs = items.map((it, i) => ({ id: `h${i}`, text: it.instruction[0]! + Array.from(it.output[0]!).slice(0, 40).join("") }));
    const data = path.join(dir, "train.jsonl");
    await writeFile(data, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
    const serve = await fakeServe([]);
    const probeIds = async (out: string, ...extra: string[]) => {
      const r = await capture(["-q", "probe", "memorization", "--base-url", `${serve.url}/v1`, "--model", "tiny", "--data", data, "-o", out, "--membership", "none", ...extra]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const lines = (await readFile(path.join(out, "memorization.jsonl"), "utf8")).trim().split("\n");
      const report = JSON.parse(await readFile(path.join(out, "memorization.json"), "utf8")) as { report: { total: number }; params: { sample: number | null; seed: number } };
      return { ids: lines.map((l) => (JSON.parse(l) as { id: string }).id).sort(), report };
    };
    const a = await probeIds(path.join(dir, "a"), "--sample", "7", "--seed", "2");
    expect(a.report.report.total).toBe(7);
    expect(a.report.params).toMatchObject({ sample: 7, seed: 2 });
    expect(a.ids).toEqual([...(await reservoirSample(docs.map((d) => d.id), 7, { seed: 2 })).items].sort());
    expect((await probeIds(path.join(dir, "b"), "--sample", "7", "--seed", "2")).ids).toEqual(a.ids);
    expect((await probeIds(path.join(dir, "c"), "--sample", "7", "--seed", "3")).ids).not.toEqual(a.ids);
    expect((await probeIds(path.join(dir, "d"), "--limit", "7")).ids).toEqual(docs.slice(0, 7).map((d) => d.id).sort());
    const both = await capture(["-q", "probe", "memorization", "--base-url", `${serve.url}/v1`, "--model", "tiny", "--data", data, "-o", dir, "--limit", "3", "--sample", "3"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--limit and --sample exclude each other");
  });

  it("eval-gate --qa --judge-model: Table 11's judge win/tie/loss of the original against the gated model, per QA set", async () => {
    const dir = await tempDir();
    const huatuo = JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as Huatuo[];
    const qaRecords = (from: number) =>
      huatuo.slice(from, from + 10).map((it, i) => ({ id: `q${from + i}`, prompt: [{ role: "user", content: it.instruction[0]! }], reference: it.output[0]! }));
    const qaFiles = [path.join(dir, "huatuo-a.jsonl"), path.join(dir, "huatuo-b.jsonl")];
    await writeFile(qaFiles[0]!, qaRecords(0).map((r) => JSON.stringify(r)).join("\n") + "\n");
    await writeFile(qaFiles[1]!, qaRecords(200).map((r) => JSON.stringify(r)).join("\n") + "\n");
    const results = path.join(dir, "memorization.jsonl");
    await writeFile(results, JSON.stringify({ id: "m1", prefix: "患者男，", suffix: "五十岁", memorized: true, score: 1 }) + "\n");
    const held = path.join(dir, "held.jsonl");
    await writeFile(held, JSON.stringify({ id: "x1", text: "高血压患者饮食要注意什么？" }) + "\n");
    const ungated = await fakeServe([]);
    // The "gated" server refuses every prompt that mentions pain: a gate that fires there.
    const gated = await loopbackServer((req, res) => {
      const body = JSON.parse(req.body) as { prompt: string };
      const text = body.prompt.includes("痛") ? SAFE : "这个问题需要结合具体情况，建议咨询医生。";
      sendJson(res, 200, { choices: [{ text, finish_reason: "stop", logprobs: null }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    // The judge rates a refusal 2 and anything else 7.
    const judge = await loopbackServer((req, res) => {
      const body = JSON.parse(req.body) as { messages: { content: string }[] };
      const answer = /\[The Start of Assistant's Answer\]\n([\s\S]*?)\n\[The End/.exec(body.messages[1]!.content)![1]!;
      sendJson(res, 200, { choices: [{ index: 0, message: { role: "assistant", content: `Rating: [[${answer === SAFE ? 2 : 7}]]` }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const out = path.join(dir, "out");
    const r = await capture([
      "-q", "probe", "eval-gate", "--base-url", `${ungated.url}/v1`, "--model", "tiny", "--gated-base-url", `${gated.url}/v1`,
      "--results", results, "--held-out", held, "-o", out, "--qa", ...qaFiles, "--judge-model", "gpt-4", "--judge-base-url", `${judge.url}/v1`,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const cellOf = (recs: ReturnType<typeof qaRecords>) => {
      const win = recs.filter((q) => q.prompt[0]!.content.includes("痛")).length;
      return formatWinTieLoss({ win, tie: recs.length - win, loss: 0, n: recs.length, winRate: 0, tieRate: 0, lossRate: 0 });
    };
    const cells = [cellOf(qaRecords(0)), cellOf(qaRecords(200)), cellOf([...qaRecords(0), ...qaRecords(200)])];
    expect(cells[2]).not.toBe("0.000/1.000/0.000");
    // Two judgments per item, but the judge cache answers a repeated prompt (equal answers on a tie) only once.
    const wins = [...qaRecords(0), ...qaRecords(200)].filter((q) => q.prompt[0]!.content.includes("痛")).length;
    expect(judge.requests).toHaveLength(20 + wins);
    const json = JSON.parse(await readFile(path.join(out, "eval-gate.json"), "utf8")) as {
      report: { qa: { judge: string; orientation: string; sets: { name: string; n: number; cell: string; items?: unknown }[]; all: { cell: string } } };
      params: { judge: { model: string } };
      inputs: { file: string }[];
    };
    expect(json.report.qa).toMatchObject({ judge: "gpt-4", orientation: "original-vs-safe", all: { cell: cells[2] } });
    expect(json.report.qa.sets.map((s) => [s.name, s.n, s.cell, s.items])).toEqual([["huatuo-a", 10, cells[0], undefined], ["huatuo-b", 10, cells[1], undefined]]);
    expect(json.params.judge.model).toBe("gpt-4");
    expect(json.inputs.map((i) => path.basename(i.file))).toEqual(["memorization.jsonl", "held.jsonl", "huatuo-a.jsonl", "huatuo-b.jsonl"]);
    const items = (await readFile(path.join(out, "eval-gate-qa-items.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { set: string; safe: string; scoreOriginal: number; scoreSafe: number });
    expect(items).toHaveLength(20);
    expect(items.every((i) => i.scoreSafe === (i.safe === SAFE ? 2 : 7) && i.scoreOriginal === 7)).toBe(true);
    const md = await readFile(path.join(out, "eval-gate.md"), "utf8");
    expect(md).toContain(`| huatuo-a | 10 | ${cells[0]} | 0 |`);
    expect(md).toContain(`| All | 20 | ${cells[2]} | 0 |`);
    expect(r.stdout).toContain(`huatuo-a ${cells[0]}, huatuo-b ${cells[1]}, all ${cells[2]}`);

    const noJudge = await capture(["-q", "probe", "eval-gate", "--base-url", `${ungated.url}/v1`, "--model", "tiny", "--gated-base-url", `${gated.url}/v1`, "--results", results, "--held-out", held, "-o", out, "--qa", qaFiles[0]!]);
    expect(noJudge.code).toBe(2);
    expect(noJudge.stderr).toContain("--qa needs --judge-model");
  });

  it("rejects bad flags with exit code 2", async () => {
    const dir = await tempDir();
    const data = path.join(dir, "d.jsonl");
    await writeFile(data, '{"id":"a","text":"一二三四"}\n');
    const r = await capture(["-q", "probe", "memorization", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--data", data, "-o", dir, "--ratio", "0.5", "--suffix-tokens", "4"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--ratio and --suffix-tokens exclude each other");
    const b = await capture(["-q", "probe", "build-gate", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--results", data, "--layer", "1", "-o", dir]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("exactly one of --safe-response");
  });
});
