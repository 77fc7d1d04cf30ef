// Child process of the benchmarks: `sfmed dedup` end to end (read JSONL → dedup → write kept + report), then
// one JSON line with wall time and this process's peak RSS (worker threads included).
import { runCli } from "@sfmed/cli";

const [corpus, out, threads, ...extra] = process.argv.slice(2);
const t0 = performance.now();
const code = await runCli(["--quiet", "dedup", corpus!, "-o", `${out}/kept.jsonl`, "--report", `${out}/report.json`, "--threads", threads ?? "2", ...extra]);
const total = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ code, total_s: total, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }) + "\n");
process.exitCode = code;
