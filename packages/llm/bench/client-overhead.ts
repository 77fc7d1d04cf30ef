// Per-call overhead of createOpenAIModel (limiter, retries wrapper, accounting, cache) against the bare `openai`
// client, both talking to the same in-process fake server, and the speed of answers replayed from the cache.
//   npx tsx --conditions=@sfmed/source packages/llm/bench/client-overhead.ts
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import pLimit from "p-limit";
import { createOpenAIModel } from "../src/index.js";

const N = 2000;
const CONCURRENCY = 16;
const answer = JSON.stringify({
  id: "c",
  object: "chat.completion",
  created: 0,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "高血压患者应低盐饮食，规律服药，定期监测血压。" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 20, completion_tokens: 20, total_tokens: 40 },
});

async function main() {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  const msgs = (i: number) => [{ role: "user" as const, content: `第${i}个问题：高血压怎么办？` }];
  const cacheDir = await mkdtemp(path.join(tmpdir(), "sfmed-bench-llm-"));

  const time = async (fn: (i: number) => Promise<unknown>) => {
    const limit = pLimit(CONCURRENCY);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, (_, i) => limit(() => fn(i))));
    return performance.now() - t0;
  };

  const raw = new OpenAI({ baseURL, apiKey: "EMPTY", maxRetries: 0 });
  await time((i) => raw.chat.completions.create({ model: "m", messages: msgs(i) })); // warm-up
  const tRaw = await time((i) => raw.chat.completions.create({ model: "m", messages: msgs(i) }));
  const ours = createOpenAIModel({ baseURL, model: "m", concurrency: CONCURRENCY });
  const tOurs = await time((i) => ours.chat(msgs(i)));
  const cached = createOpenAIModel({ baseURL, model: "m", concurrency: CONCURRENCY, cacheDir });
  const tFill = await time((i) => cached.chat(msgs(i)));
  const replay = createOpenAIModel({ baseURL, model: "m", concurrency: CONCURRENCY, cacheDir });
  const tHit = await time((i) => replay.chat(msgs(i)));
  if (replay.stats().cacheHits !== N) throw new Error("expected every replayed call to hit the cache");

  const rows: Array<[string, number]> = [
    ["openai client, bare", tRaw],
    ["createOpenAIModel, no cache", tOurs],
    ["createOpenAIModel, filling cache", tFill],
    ["createOpenAIModel, all cache hits", tHit],
  ];
  console.log(`${N} chat calls, ${CONCURRENCY} in flight, loopback server\n`);
  console.log("| client | total ms | calls/s | µs/call | vs bare |\n|---|---|---|---|---|");
  for (const [name, ms] of rows) {
    console.log(`| ${name} | ${ms.toFixed(0)} | ${((N / ms) * 1000).toFixed(0)} | ${((ms * 1000) / N).toFixed(0)} | ${(ms / tRaw).toFixed(2)}× |`);
  }
  server.close();
  await rm(cacheDir, { recursive: true, force: true });
}

void main();
