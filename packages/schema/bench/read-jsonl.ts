// Reading throughput and memory of the JSONL reader on a generated file (default 1M lines; N=... to change).
// Run: npx tsx --conditions=@sfmed/source packages/schema/bench/read-jsonl.ts
import { spawnSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { readRecords, writeJsonl, type Dialogue } from "../src/index.js";

const N = Number(process.env.N ?? 1_000_000);

function* dialogues(n: number): Generator<Dialogue> {
  const q = "医生您好，我最近经常头晕乏力，血压有点高，晚上睡眠也不好，需要做哪些检查？";
  const a = "您好，根据您的描述，建议先监测一周血压，完善血常规、血脂、血糖和心电图检查，注意低盐饮食和规律作息。";
  for (let i = 0; i < n; i++) {
    yield { id: `bench:${i}`, source: i % 3 ? "huatuo26m" : "toyhom", messages: [{ role: "user", content: `${q}${i}` }, { role: "assistant", content: a }] };
  }
}

interface Row {
  reader: string;
  records: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** CPU seconds (user + system) of the read: steadier than wall time on a busy machine. */
  cpuSeconds: number;
  peakRssMb: number;
}

/** The readers under test; each runs in its own process so its peak RSS is its own. */
const readers: Record<string, (file: string) => Promise<number>> = {
  "node readline + JSON.parse (baseline)": async (file) => {
    let n = 0;
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (line) (JSON.parse(line), n++);
    return n;
  },
  "readRecords (parse only)": async (file) => {
    let n = 0;
    for await (const _ of readRecords(file)) n++;
    return n;
  },
  "readRecords kind=dialogue (zod)": async (file) => {
    let n = 0;
    for await (const _ of readRecords(file, { kind: "dialogue" })) n++;
    return n;
  },
  "readRecords .jsonl.gz (parse only)": async (file) => {
    let n = 0;
    for await (const _ of readRecords(file + ".gz")) n++;
    return n;
  },
};

/** Child mode: run one reader, print {records, seconds, maxRSS}. */
async function child(name: string, file: string) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const records = await readers[name]!(file);
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ records, seconds, cpuSeconds: (c.user + c.system) / 1e6, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
}

function inChild(name: string, file: string): Row {
  const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, "--reader", name, file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  return { reader: name, ...(JSON.parse(r.stdout.trim().split("\n").pop()!) as Omit<Row, "reader">) };
}

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), "sfmed-bench-"));
  try {
    const file = path.join(dir, "bench.jsonl");
    const gz = file + ".gz";
    const tg = performance.now();
    await writeJsonl(file, dialogues(N));
    await writeJsonl(gz, dialogues(N));
    const size = (await stat(file)).size;
    console.log(`generated ${N} lines, ${(size / 2 ** 20).toFixed(0)} MiB (gzip ${((await stat(gz)).size / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - tg) / 1000).toFixed(1)} s`);
    const rows: Row[] = Object.keys(readers).map((name) => inChild(name, file));
    // Peer tool: Python's line loop with json.loads (peak RSS from the OS).
    const py = spawnSync(
      "python3",
      ["-c", "import json,sys,time,resource\nt=time.time();c=time.process_time();n=0\nfor l in open(sys.argv[1],encoding='utf-8'):\n  json.loads(l);n+=1\nprint(n,time.time()-t,time.process_time()-c,resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)", file],
      { encoding: "utf8" },
    );
    if (py.status === 0) {
      const [n, secs, cpu, kb] = py.stdout.trim().split(/\s+/).map(Number);
      rows.push({ reader: "python3 json.loads loop (peer)", records: n!, seconds: secs!, cpuSeconds: cpu!, peakRssMb: kb! / 1024 });
    }
    const base = rows[0]!;
    const head = ["reader", "records", "wall s", "CPU s", "records/CPU s", "vs baseline (CPU)", "peak RSS MiB"];
    const body = rows.map((r) => [
      r.reader,
      String(r.records),
      r.seconds.toFixed(2),
      r.cpuSeconds.toFixed(2),
      Math.round(r.records / r.cpuSeconds).toLocaleString("en-US"),
      `${(base.cpuSeconds / r.cpuSeconds).toFixed(2)}x`,
      r.peakRssMb.toFixed(0),
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const fmt = (cells: string[]) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(" | ") + " |";
    console.log([fmt(head), "|" + w.map((x, i) => "-".repeat(x + 1) + (i === 0 ? "-" : ":")).join("|") + "|", ...body.map(fmt)].join("\n"));
    console.log(`node ${process.version}; each reader ran in its own process (peak RSS = that process's maxRSS, incl. the tsx loader)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf("--reader");
if (at > 0) await child(process.argv[at + 1]!, process.argv[at + 2]!);
else await main();
