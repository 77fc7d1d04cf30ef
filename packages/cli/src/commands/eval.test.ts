import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { loopbackServer, readSample, sendJson, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const jsonl = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join("\n") + "\n";

interface Huatuo {
  instruction: string[];
  output: string[];
}

/** Ten real Huatuo-26M test items as ReferenceQA, and two systems: one copying half the reference, one off-topic. */
async function qaFiles(dir: string) {
  const items = (JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as Huatuo[]).slice(0, 10);
  const refs = items.map((it, i) => ({ id: `h${i}`, source: "huatuo26m", prompt: [{ role: "user", content: it.instruction[0]! }], reference: it.output[0]! }));
  const good = refs.map((r) => ({ id: r.id, model: "good", output: r.reference.slice(0, Math.ceil(r.reference.length / 2)) }));
  const bad = refs.map((r, i) => ({ id: r.id, model: "bad", output: refs[(i + 3) % refs.length]!.reference.slice(0, 20) }));
  const f = { refs: path.join(dir, "refs.jsonl"), good: path.join(dir, "good.jsonl"), bad: path.join(dir, "bad.jsonl") };
  await writeFile(f.refs, jsonl(refs));
  await writeFile(f.good, jsonl(good));
  await writeFile(f.bad, jsonl(bad));
  return f;
}

describe("sfmed eval", () => {
  it("rouge: writes JSON, Markdown, HTML and per-item scores for each model", async () => {
    const dir = await tempDir();
    const f = await qaFiles(dir);
    const out = path.join(dir, "out");
    const r = await capture(["eval", "rouge", "--refs", f.refs, "--pred", f.good, f.bad, "-o", out]);
    expect(r.stderr).toContain("eval rouge");
    expect(r.code).toBe(0);
    const json = JSON.parse(await readFile(path.join(out, "rouge.json"), "utf8")) as { report: { systems: { model: string; f: number }[] }; inputs: { sha256: string }[] };
    const [good, bad] = json.report.systems;
    expect(good!.model).toBe("good");
    expect(good!.f).toBeGreaterThan(0.5);
    expect(bad!.f).toBeLessThan(good!.f);
    expect(json.inputs[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.stdout).toContain("| good |");
    expect(await readFile(path.join(out, "rouge.html"), "utf8")).toContain("<svg");
    expect((await readFile(path.join(out, "rouge-items.jsonl"), "utf8")).trim().split("\n")).toHaveLength(20);
  });

  it("rouge --compat rouge-chinese: jieba words with the 1e-8 epsilon", async () => {
    const dir = await tempDir();
    const f = await qaFiles(dir);
    const same = path.join(dir, "same.jsonl");
    await writeFile(same, (await readFile(f.refs, "utf8")).trim().split("\n").map((l) => {
      const r = JSON.parse(l) as { id: string; reference: string };
      return JSON.stringify({ id: r.id, model: "copy", output: r.reference });
    }).join("\n") + "\n");
    const out = path.join(dir, "zh");
    expect((await capture(["eval", "rouge", "--refs", f.refs, "--pred", same, "-o", out, "--compat", "rouge-chinese"])).code).toBe(0);
    const json = JSON.parse(await readFile(path.join(out, "rouge.json"), "utf8")) as { report: { tokenizer: string; systems: { f: number }[] } };
    expect(json.report.tokenizer).toBe("jieba");
    expect(json.report.systems[0]!.f).toBeCloseTo(2 / (2 + 1e-8), 12); // not 1: the epsilon is kept
  });

  it("compare: win/tie/loss by ROUGE-L in the paper's format", async () => {
    const dir = await tempDir();
    const f = await qaFiles(dir);
    const out = path.join(dir, "cmp");
    const r = await capture(["eval", "compare", "--refs", f.refs, "--a", f.good, "--b", f.bad, "-o", out, "--seed", "3"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("| good | bad | 100.0/0.0/0.0 |");
    const html = await readFile(path.join(out, "compare.html"), "utf8");
    expect(html).toContain('class="win"');
  });

  it("compare --cells paper: the cells as the paper's tables print them", async () => {
    const dir = await tempDir();
    const f = await qaFiles(dir);
    // A ties B on 3 items (identical answers), wins 7: 0.700/0.300/0.000.
    const tied = path.join(dir, "tied.jsonl");
    const good = (await readFile(f.good, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { id: string; output: string });
    await writeFile(tied, jsonl(good.map((p, i) => ({ id: p.id, model: "tied", output: i < 3 ? p.output : "不知道" }))));
    const out = path.join(dir, "cmp");
    const r = await capture(["eval", "compare", "--refs", f.refs, "--a", f.good, "--b", tied, "-o", out, "--cells", "paper"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("| Model | vs | Win/Tie/Loss |");
    expect(r.stdout).toContain("| good | tied | 0.700/0.300/0.000 |");
    expect(await readFile(path.join(out, "compare.md"), "utf8")).toContain("0.700/0.300/0.000");
    const json = JSON.parse(await readFile(path.join(out, "compare.json"), "utf8")) as { params: { cells: string } };
    expect(json.params.cells).toBe("paper");
    const bad = await capture(["eval", "compare", "--refs", f.refs, "--a", f.good, "--b", tied, "-o", out, "--cells", "fractions"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--cells must be percent or paper");
  });

  it("mc: accuracy per subject from real CMMLU questions and free-text answers", async () => {
    const dir = await tempDir();
    const rows = readSample("cmmlu/test/anatomy.csv").trim().split("\n").slice(1, 7).map((l) => l.split(","));
    const questions = rows.map((c) => ({ id: `a${c[0]}`, source: "cmmlu", subject: "anatomy", question: c[1], options: { A: c[2], B: c[3], C: c[4], D: c[5] }, answer: [c[6]] }));
    const answers = ["答案是{g}。", "故选{g}", "我不确定。", "The answer is {g}.", "建议做CT检查。答案：{g}", "{g}"];
    const preds = questions.map((q, i) => ({ id: q.id, model: "m", output: answers[i]!.replace("{g}", q.answer[0]!) }));
    await writeFile(path.join(dir, "q.jsonl"), jsonl(questions));
    await writeFile(path.join(dir, "p.jsonl"), jsonl(preds));
    const r = await capture(["eval", "mc", "--questions", path.join(dir, "q.jsonl"), "--pred", path.join(dir, "p.jsonl"), "-o", path.join(dir, "mc")]);
    expect(r.stderr).toContain("eval mc");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("| m | 83.3 | 83.3 | 83.3 | 16.7 | 6 |");
    expect(await readFile(path.join(dir, "mc", "mc.html"), "utf8")).toContain("Accuracy by subject");
  });

  it("mc --extractor rules+llm: a judge model reads only the answers the rules abstain on; items record the path", async () => {
    const dir = await tempDir();
    const rows = readSample("cmmlu/test/anatomy.csv").trim().split("\n").slice(1, 4).map((l) => l.split(","));
    const questions = rows.map((c) => ({ id: `a${c[0]}`, source: "cmmlu", subject: "anatomy", question: c[1], options: { A: c[2], B: c[3], C: c[4], D: c[5] }, answer: [c[6]] }));
    const outputs = ["答案是{g}。", "我想想……应该是第一个吧。", "不知道。"];
    await writeFile(path.join(dir, "q.jsonl"), jsonl(questions));
    await writeFile(path.join(dir, "p.jsonl"), jsonl(questions.map((q, i) => ({ id: q.id, model: "m", output: outputs[i]!.replace("{g}", q.answer[0]!) }))));
    const asked: string[] = [];
    const srv = await loopbackServer((req, res) => {
      const body = JSON.parse(req.body) as { messages: { content: string }[] };
      const answer = body.messages[1]!.content.match(/<<<\n([\s\S]*?)\n>>>/)![1]!;
      asked.push(answer);
      sendJson(res, 200, { choices: [{ index: 0, message: { role: "assistant", content: answer.includes("第一个") ? "答案：A" : "答案：无" }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const base = ["eval", "mc", "--questions", path.join(dir, "q.jsonl"), "--pred", path.join(dir, "p.jsonl")];
    const r = await capture([...base, "-o", path.join(dir, "mc"), "--extractor", "rules+llm", "--base-url", `${srv.url}/v1`, "--model", "x"]);
    expect(r.code, r.stderr).toBe(0);
    expect(asked.sort()).toEqual(["不知道。", "我想想……应该是第一个吧。"]);
    const items = (await readFile(path.join(dir, "mc", "mc-items.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { predicted: string[]; rule: string });
    expect(items.map((i) => [i.predicted.join(""), i.rule])).toEqual([[questions[0]!.answer[0], "anchor"], ["A", "llm"], ["", "llm"]]);
    const bad = await capture([...base, "-o", path.join(dir, "mc2"), "--extractor", "regex"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--extractor must be rules, llm, rules+llm");
    const noModel = await capture([...base, "-o", path.join(dir, "mc3"), "--extractor", "llm"]);
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toContain("needs --base-url and --model");
  });

  it("judge: grades through an OpenAI-compatible server, retrying unparsable output", async () => {
    const dir = await tempDir();
    const f = await qaFiles(dir);
    let calls = 0;
    const srv = await loopbackServer((req, res) => {
      calls++;
      const body = JSON.parse(req.body) as { messages: { role: string; content: string }[] };
      const last = body.messages.at(-1)!.content;
      // First answer to each prompt is chatty without a score; the format reminder gets "[[n]]".
      const content = last.includes("could not be read") ? `[[${body.messages[1]!.content.length % 10 + 1}]]` : "The answer is partly right.";
      sendJson(res, 200, { choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 5 } });
    });
    const out = path.join(dir, "judge");
    const r = await capture(["eval", "judge", "--refs", f.refs, "--pred", f.good, "-o", out, "--base-url", `${srv.url}/v1`, "--model", "judge-x", "--no-cache"]);
    expect(r.stderr).toContain("eval judge");
    expect(r.code).toBe(0);
    expect(calls).toBe(20);
    const items = (await readFile(path.join(out, "judge-items.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { ok: boolean; outputs: string[] });
    expect(items.every((i) => i.ok && i.outputs.length === 2)).toBe(true);
    expect(r.stdout).toMatch(/\| good \| \d+\.\d\d \| 0 \| 10 \|/);

    // With the default response cache, a second run (e.g. after an interruption) asks the server nothing new.
    const cached = path.join(dir, "judge-cached");
    const args = ["eval", "judge", "--refs", f.refs, "--pred", f.good, "-o", cached, "--base-url", `${srv.url}/v1`, "--model", "judge-x"];
    expect((await capture(args)).code).toBe(0);
    const after = calls;
    const again = await capture(args);
    expect(again.code).toBe(0);
    expect(calls).toBe(after);
    expect(again.stdout).toBe((await capture(args)).stdout);
  });

  it("compare --metric judge: grades both systems separately through the server", async () => {
    const dir = await tempDir();
    const f = await qaFiles(dir);
    // Scores the answer by its length, a stand-in for quality: the half-reference answers are longer.
    const srv = await loopbackServer((req, res) => {
      const body = JSON.parse(req.body) as { messages: { role: string; content: string }[] };
      const answer = /\[The Start of Assistant's Answer\]\n([\s\S]*?)\n\[The End/.exec(body.messages[1]!.content)![1]!;
      sendJson(res, 200, { choices: [{ index: 0, message: { role: "assistant", content: `评分：${answer.length > 20 ? 8 : 3}` }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const out = path.join(dir, "cj");
    const r = await capture(["eval", "compare", "--refs", f.refs, "--a", f.good, "--b", f.bad, "-o", out, "--metric", "judge", "--base-url", `${srv.url}/v1`, "--model", "j", "--no-cache"]);
    expect(r.code).toBe(0);
    expect(srv.requests).toHaveLength(20);
    const json = JSON.parse(await readFile(path.join(out, "compare.json"), "utf8")) as { report: { metric: string; comparisons: { result: { win: number; tie: number; loss: number } }[] } };
    expect(json.report.metric).toBe("judge:overall-1-10");
    const { win, tie, loss } = json.report.comparisons[0]!.result;
    expect(win + tie + loss).toBe(10);
    expect(win).toBeGreaterThan(loss);
  });

  it("rejects a bad flag with a usage error", async () => {
    const dir = await tempDir();
    const f = await qaFiles(dir);
    const r = await capture(["eval", "rouge", "--refs", f.refs, "--pred", f.good, "-o", dir, "--tokenizer", "bpe"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--tokenizer");
  });
});
