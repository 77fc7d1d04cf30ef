import { readFile, writeFile } from "node:fs/promises";
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
