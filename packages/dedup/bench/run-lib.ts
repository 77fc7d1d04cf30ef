// Child process for a library-level end-to-end run (read JSONL → dedup → write kept + report) against the
// built package (`cd packages/dedup && npx tsup` first), so worker threads run plain JS and no CLI modules load.
//
//   npx tsx packages/dedup/bench/run-lib.ts CORPUS.jsonl OUT_DIR [THREADS]
import { createReadStream, createWriteStream, writeFileSync } from "node:fs";
import { once } from "node:events";
import { createInterface } from "node:readline";
import path from "node:path";
import type * as Lib from "../src/index.js";

const { dedup } = (await import(path.resolve(import.meta.dirname, "../dist/index.js"))) as typeof Lib;
const [corpus, out, threads] = process.argv.slice(2);
async function* lines(): AsyncGenerator<string> {
  for await (const l of createInterface({ input: createReadStream(corpus!), crlfDelay: Infinity })) if (l.trim()) yield l;
}
async function* records() {
  for await (const l of lines()) yield JSON.parse(l) as { id: string; text: string };
}
const t0 = performance.now();
const result = await dedup(records(), { threads: Number(threads ?? 2) });
const ws = createWriteStream(path.join(out!, "kept.jsonl"));
let i = 0;
let buf: string[] = [];
for await (const l of lines()) {
  if (result.keep[i++]) buf.push(l);
  if (buf.length >= 1000) {
    if (!ws.write(buf.join("\n") + "\n")) await once(ws, "drain");
    buf = [];
  }
}
if (buf.length) ws.write(buf.join("\n") + "\n");
ws.end();
await once(ws, "finish");
writeFileSync(path.join(out!, "report.json"), JSON.stringify(result.report, null, 2));
process.stdout.write(JSON.stringify({ total_s: (performance.now() - t0) / 1000, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }) + "\n");
