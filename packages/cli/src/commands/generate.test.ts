import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { reservoirSample } from "@sfmed/eval-metrics";
import { loopbackServer, sendJson, tempDir } from "@sfmed/test-utils";
import { describe, expect, it, vi } from "vitest";
import { runCli } from "../run.js";
import { capture } from "../test-helpers/capture.js";

async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    return await f();
  } finally {
    e.mockRestore();
  }
}

describe("sfmed generate", () => {
  it("writes Predictions for n = 1 and candidate sets for n > 1, from any record with a prompt", async () => {
    const srv = await loopbackServer((req, res) => {
      const body = JSON.parse(req.body) as { messages: Array<{ content: string }>; seed: number };
      sendJson(res, 200, { id: "x", object: "chat.completion", created: 0, model: "m", choices: [{ index: 0, message: { role: "assistant", content: `echo:${body.messages.at(-1)!.content}#${body.seed}` }, finish_reason: "stop" }], usage: { prompt_tokens: 3, completion_tokens: 2 } });
    });
    const dir = await tempDir();
    const input = path.join(dir, "in.jsonl");
    await writeFile(
      input,
      [
        { id: "qa1", prompt: [{ role: "user", content: "头痛怎么办" }], reference: "休息" },
        { id: "d1", messages: [{ role: "user", content: "发烧" }, { role: "assistant", content: "多喝水" }] },
      ].map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    const preds = path.join(dir, "preds.jsonl");
    expect(await quiet(() => runCli(["generate", "-i", input, "-o", preds, "--base-url", `${srv.url}/v1`, "--model", "m", "--label", "sft"]))).toBe(0);
    const p = (await readFile(preds, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    expect(p).toEqual([{ id: "qa1", model: "sft", output: "echo:头痛怎么办#0" }, { id: "d1", model: "sft", output: "echo:发烧#0" }]);
    const cands = path.join(dir, "cands.jsonl");
    expect(await quiet(() => runCli(["generate", "-i", input, "-o", cands, "--base-url", `${srv.url}/v1`, "--model", "m", "-n", "3"]))).toBe(0);
    const c = (await readFile(cands, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    expect(c[1]).toEqual({ id: "d1", prompt: [{ role: "user", content: "发烧" }], responses: ["echo:发烧#0", "echo:发烧#1", "echo:发烧#2"] });
  });

  it("--sample N --seed S answers a seeded random sample of the records, in file order; --limit takes the first N", async () => {
    const srv = await loopbackServer((req, res) => {
      const body = JSON.parse(req.body) as { messages: Array<{ content: string }> };
      sendJson(res, 200, { choices: [{ index: 0, message: { role: "assistant", content: `答:${body.messages.at(-1)!.content}` }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const dir = await tempDir();
    const input = path.join(dir, "in.jsonl");
    const ids = Array.from({ length: 40 }, (_, i) => `q${i}`);
    await writeFile(input, ids.map((id) => JSON.stringify({ id, prompt: [{ role: "user", content: `问题${id}` }], reference: "参考" })).join("\n") + "\n");
    const run = async (file: string, ...extra: string[]) => {
      const r = await capture(["-q", "generate", "-i", input, "-o", path.join(dir, file), "--base-url", `${srv.url}/v1`, "--model", "m", ...extra]);
      return { code: r.code, stderr: r.stderr, ids: r.code === 0 ? (await readFile(path.join(dir, file), "utf8")).trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id) : [] };
    };
    const a = await run("a.jsonl", "--sample", "6", "--seed", "11");
    expect(a.code).toBe(0);
    expect(a.ids).toEqual((await reservoirSample(ids, 6, { seed: 11 })).items);
    expect(a.ids).not.toEqual(ids.slice(0, 6));
    expect((await run("b.jsonl", "--sample", "6", "--seed", "11")).ids).toEqual(a.ids);
    expect((await run("c.jsonl", "--sample", "6", "--seed", "12")).ids).not.toEqual(a.ids);
    expect((await run("d.jsonl", "--limit", "6")).ids).toEqual(ids.slice(0, 6));
    const both = await run("e.jsonl", "--limit", "6", "--sample", "6");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--sample and --limit exclude each other");
  });

  it("names file and line of a record without a prompt", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "in.jsonl");
    await writeFile(input, `{"id":"a","question":"q"}\n{"id":"b","text":"no prompt"}\n`);
    const err: string[] = [];
    const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
    try {
      expect(await runCli(["generate", "-i", input, "-o", path.join(dir, "o.jsonl"), "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])).toBe(1);
    } finally {
      e.mockRestore();
    }
    expect(err.join("")).toContain(`${input}:2 field prompt: no prompt`);
  });
});

describe("sfmed generate keeps answered prompts and names what failed", () => {
  it("a failed record is named; a rerun asks only for the prompts not yet answered; the key comes from --api-key-env", async () => {
    const asked: string[] = [];
    const keys = new Set<string>();
    let failOnce = true;
    const srv = await loopbackServer((req, res) => {
      const body = JSON.parse(req.body) as { messages: Array<{ content: string }> };
      const q = body.messages.at(-1)!.content;
      keys.add(String(req.headers.authorization));
      asked.push(q);
      if (q === "问题q3" && failOnce) {
        failOnce = false;
        return sendJson(res, 400, { error: { message: "bad request for this prompt" } });
      }
      sendJson(res, 200, { choices: [{ index: 0, message: { role: "assistant", content: `答:${q}` }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const dir = await tempDir();
    const input = path.join(dir, "in.jsonl");
    await writeFile(input, Array.from({ length: 6 }, (_, i) => JSON.stringify({ id: `q${i}`, prompt: [{ role: "user", content: `问题q${i}` }], reference: "参考" })).join("\n") + "\n");
    const out = path.join(dir, "preds.jsonl");
    const args = ["-q", "generate", "-i", input, "-o", out, "--base-url", `${srv.url}/v1`, "--model", "m", "--api-key-env", "SFMED_TEST_KEY", "--concurrency", "1"];
    process.env.SFMED_TEST_KEY = "sk-test-123";
    try {
      const first = await capture(args);
      expect(first.code).toBe(1);
      expect(first.stderr).toContain(`${input}:4: record "q3"`);
      const second = await capture(args);
      expect(second.code, second.stderr).toBe(0);
    } finally {
      delete process.env.SFMED_TEST_KEY;
    }
    // 6 prompts the first time (one failed), then only the failed one
    expect(asked.length).toBe(7);
    expect(asked.at(-1)).toBe("问题q3");
    expect(keys).toEqual(new Set(["Bearer sk-test-123"]));
    const ids = (await readFile(out, "utf8")).trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toEqual(["q0", "q1", "q2", "q3", "q4", "q5"]);
    expect((await readdir(dir)).sort()).toEqual(["in.jsonl", "preds.jsonl"]); // the checkpoint is gone once the output is written
  });

  it("refuses repeated ids and a zero --timeout", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "in.jsonl");
    await writeFile(input, ['{"id":"a","prompt":[{"role":"user","content":"x"}]}', '{"id":"b","prompt":[{"role":"user","content":"y"}]}', '{"id":"a","prompt":[{"role":"user","content":"z"}]}'].join("\n") + "\n");
    const dup = await capture(["-q", "generate", "-i", input, "-o", path.join(dir, "p.jsonl"), "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain(`${input}:3 field id: id "a" repeats the record at line 1`);
    const bad = await capture(["-q", "generate", "-i", input, "-o", path.join(dir, "p.jsonl"), "--base-url", "http://alice:s3cret@127.0.0.1:9/v1", "--model", "m", "--timeout", "0"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout must be a number > 0, got "0"');
  });
});
