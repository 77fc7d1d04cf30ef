// Start-up cost of the built CLI: median wall time of N runs (alternating between commands) for `dedup --help`,
// a tiny `eval compare` (20 Huatuo-26M references, two systems; the time until its first report is written),
// `--version`, and the same `dedup --help` through `npx sfmed`; then the third-party packages each command
// loads (an ESM resolve hook plus a CommonJS require hook, recorded to a file).
//
//   npx turbo run build --filter=@sfmed/cli...
//   node packages/cli/bench/startup.mjs [runs=10] [other/dist/bin.js ...]
//
// Extra bin.js paths (e.g. a copy of an older build) are timed in the same alternation, for before/after.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const bin = path.join(root, "packages/cli/dist/bin.js");
if (!existsSync(bin)) throw new Error(`${bin} not built (npx turbo run build --filter=@sfmed/cli...)`);
const runs = Number(process.argv[2] ?? 10);
const dir = mkdtempSync(path.join(tmpdir(), "sfmed-startup-"));

const items = JSON.parse(readFileSync(path.join(root, "data/samples/huatuo26m_test/huatuo26M_test.json"), "utf8")).slice(0, 20);
const jsonl = (xs) => xs.map((x) => JSON.stringify(x)).join("\n") + "\n";
const refs = items.map((it, i) => ({ id: `h${i}`, source: "huatuo26m", prompt: [{ role: "user", content: it.instruction[0] }], reference: it.output[0] }));
writeFileSync(path.join(dir, "refs.jsonl"), jsonl(refs));
writeFileSync(path.join(dir, "a.jsonl"), jsonl(refs.map((r) => ({ id: r.id, model: "a", output: r.reference.slice(0, 60) }))));
writeFileSync(path.join(dir, "b.jsonl"), jsonl(refs.map((r, i) => ({ id: r.id, model: "b", output: refs[(i + 1) % 20].reference.slice(0, 60) }))));
const compare = ["eval", "compare", "--refs", path.join(dir, "refs.jsonl"), "--a", path.join(dir, "a.jsonl"), "--b", path.join(dir, "b.jsonl"), "-o", path.join(dir, "out"), "--resamples", "200"];

const others = process.argv.slice(3).map((b) => path.resolve(b));
const cases = [
  ...[bin, ...others].flatMap((b) => {
    const name = b === bin ? "dist/bin.js" : path.relative(root, b);
    return [
      [`node ${name} dedup --help`, process.execPath, [b, "dedup", "--help"]],
      [`node ${name} eval compare (20 refs)`, process.execPath, [b, ...compare]],
      [`node ${name} --version`, process.execPath, [b, "--version"]],
    ];
  }),
  ["node node_modules/.bin/sfmed dedup --help", process.execPath, [path.join(root, "node_modules/.bin/sfmed"), "dedup", "--help"]],
  ["npx sfmed dedup --help", "npx", ["--no-install", "sfmed", "dedup", "--help"]],
];

const times = cases.map(() => []);
for (let r = 0; r < runs; r++)
  cases.forEach(([name, cmd, args], k) => {
    const t0 = performance.now();
    const p = spawnSync(cmd, args, { cwd: root, encoding: "utf8" });
    times[k].push(performance.now() - t0);
    if (p.status !== 0) throw new Error(`${name}: exit ${p.status}\n${p.stderr}`);
  });
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; median of ${runs} alternating runs`);
console.log("| command | median ms | min ms |");
console.log("|---|---:|---:|");
cases.forEach(([name], k) => console.log(`| \`${name}\` | ${median(times[k]).toFixed(0)} | ${Math.min(...times[k]).toFixed(0)} |`));

// Which packages under node_modules each command loads (our own @sfmed/* left out).
const log = path.join(dir, "loaded.txt");
const hooks = path.join(dir, "hooks.mjs");
writeFileSync(
  hooks,
  `import { appendFileSync } from "node:fs";
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  appendFileSync(${JSON.stringify(log)}, r.url + "\\n");
  return r;
}
`,
);
const preload = path.join(dir, "preload.mjs");
writeFileSync(
  preload,
  `import { register, createRequire } from "node:module";
import { appendFileSync } from "node:fs";
register(${JSON.stringify("file://" + hooks)});
const Module = createRequire(import.meta.url)("node:module");
const load = Module._load;
Module._load = function (req, parent, isMain) {
  try { appendFileSync(${JSON.stringify(log)}, Module._resolveFilename(req, parent, isMain) + "\\n"); } catch {}
  return load.apply(this, arguments);
};
`,
);
const packagesOf = (b, args) => {
  writeFileSync(log, "");
  spawnSync(process.execPath, ["--import", preload, b, ...args], { cwd: root });
  const names = new Set();
  for (const line of readFileSync(log, "utf8").split("\n")) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(line);
    if (m && !m[1].startsWith("@sfmed/")) names.add(m[1]);
  }
  return [...names].sort();
};
for (const b of [bin, ...others]) {
  console.log(`\nthird-party packages loaded by ${path.relative(root, b)}:`);
  for (const [name, args] of [
    ["dedup --help", ["dedup", "--help"]],
    ["eval compare", compare],
    ["--version", ["--version"]],
  ])
    console.log(`  ${name}: ${packagesOf(b, args).join(", ") || "(none)"}`);
}
