// PII scanner throughput on the committed sample data (all files, as text lines), single thread.
// Run: npx tsx --conditions=@sfmed/source packages/privacy-probe/bench/pii-scan.ts
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { scanPii } from "../src/index.js";

const root = path.resolve(import.meta.dirname, "../../../data/samples");
const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(path.join(d, n)).isDirectory() ? walk(path.join(d, n)) : [path.join(d, n)]));
const lines = walk(root).flatMap((f) => readFileSync(f, "utf8").split("\n"));
const chars = lines.reduce((s, l) => s + l.length, 0);
const reps = 5;
let found = 0;
for (const l of lines) found += scanPii(l).length;
const t = performance.now();
for (let r = 0; r < reps; r++) for (const l of lines) scanPii(l);
const secs = (performance.now() - t) / 1000 / reps;
console.log("| lines | chars | findings | seconds | M chars/s |\n|---|---|---|---|---|");
console.log(`| ${lines.length} | ${chars} | ${found} | ${secs.toFixed(3)} | ${(chars / secs / 1e6).toFixed(2)} |`);
