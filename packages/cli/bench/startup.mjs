// Start-up cost of the built CLI, median of N alternating runs per command: wall time (spawn to exit), CPU time
// (user + sys of the process and its children, from /usr/bin/time, so a loaded machine shows less noise), and for
// `dedup` and `eval rouge` the time from process start until the first input record file is opened for reading
// (wall and CPU, recorded in-process by a small --import probe that wraps the fs read calls). Commands:
// `--version`, `dedup --help`, `dedup` of a one-document JSONL, `eval rouge` of 20 Huatuo-26M references, then the
// same dedup through the linked bin and through `npx sfmed`; then the third-party packages each command loads.
//
//   npx turbo run build --filter=@sfmed/cli...
//   node packages/cli/bench/startup.mjs [runs=10] [other/dist/bin.js ...]
//
// Extra bin.js paths (e.g. a copy of an older build) are timed in the same alternation, for before/after.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const bin = path.join(root, "packages/cli/dist/bin.js");
if (!existsSync(bin)) throw new Error(`${bin} not built (npx turbo run build --filter=@sfmed/cli...)`);
const runs = Number(process.argv[2] ?? 10);
const dir = mkdtempSync(path.join(tmpdir(), "sfmed-startup-"));
const input = (name) => path.join(dir, `in-${name}`);
const timeBin = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

const items = JSON.parse(readFileSync(path.join(root, "data/samples/huatuo26m_test/huatuo26M_test.json"), "utf8")).slice(0, 20);
const jsonl = (xs) => xs.map((x) => JSON.stringify(x)).join("\n") + "\n";
const refs = items.map((it, i) => ({ id: `h${i}`, source: "huatuo26m", prompt: [{ role: "user", content: it.instruction[0] }], reference: it.output[0] }));
writeFileSync(input("refs.jsonl"), jsonl(refs));
writeFileSync(input("preds.jsonl"), jsonl(refs.map((r) => ({ id: r.id, model: "a", output: r.reference.slice(0, 60) }))));
writeFileSync(input("doc.jsonl"), jsonl([{ id: "d0", text: items[0].output[0] }]));
const rouge = ["eval", "rouge", "--refs", input("refs.jsonl"), "--pred", input("preds.jsonl"), "-o", path.join(dir, "rouge"), "-q"];
const dedup = ["dedup", input("doc.jsonl"), "-o", path.join(dir, "kept.jsonl"), "-q"];

// The probe: on the first open/read of an input file, log ms since process start and CPU ms so far.
const probeLog = path.join(dir, "probe.jsonl");
const probe = path.join(dir, "probe.mjs");
writeFileSync(
  probe,
  `import { createRequire, syncBuiltinESMExports } from "node:module";
const require = createRequire(import.meta.url);
const fs = require("node:fs"), fsp = require("node:fs/promises");
const prefix = ${JSON.stringify(input(""))};
let seen = false;
const mark = (p) => {
  if (seen || !String(p).startsWith(prefix)) return;
  seen = true;
  const c = process.cpuUsage();
  fs.appendFileSync(${JSON.stringify(probeLog)}, JSON.stringify({ wall: performance.now(), cpu: (c.user + c.system) / 1000 }) + "\\n");
};
for (const [mod, name] of [[fsp, "open"], [fsp, "readFile"], [fs, "open"], [fs, "openSync"], [fs, "createReadStream"], [fs, "readFileSync"]]) {
  const f = mod[name];
  mod[name] = function (p, ...rest) { mark(p); return f.call(this, p, ...rest); };
}
syncBuiltinESMExports();
`,
);

const others = process.argv.slice(3).map((b) => path.resolve(b));
const node = (b, args, firstRecord) => [process.execPath, ["--import", pathToFileURL(probe).href, b, ...args], firstRecord];
const cases = [
  ["node -e 0 (Node alone)", process.execPath, ["-e", "0"], false],
  ...[bin, ...others].flatMap((b) => {
    const name = b === bin ? "dist/bin.js" : path.relative(root, b);
    return [
      [`node ${name} --version`, ...node(b, ["--version"], false)],
      [`node ${name} dedup --help`, ...node(b, ["dedup", "--help"], false)],
      [`node ${name} dedup (1 doc)`, ...node(b, dedup, true)],
      [`node ${name} eval rouge (20 refs)`, ...node(b, rouge, true)],
    ];
  }),
  ["node node_modules/.bin/sfmed dedup (1 doc)", ...node(path.join(root, "node_modules/.bin/sfmed"), dedup, true)],
  ["npx sfmed dedup (1 doc)", "npx", ["--no-install", "sfmed", ...dedup], false],
];

const stats = cases.map(() => ({ wall: [], cpu: [], firstWall: [], firstCpu: [] }));
const cpuLog = path.join(dir, "cpu.txt");
for (let r = 0; r < runs; r++)
  cases.forEach(([name, cmd, args, firstRecord], k) => {
    writeFileSync(probeLog, "");
    const [c, a] = timeBin ? [timeBin, ["-f", "%U %S", "-o", cpuLog, cmd, ...args]] : [cmd, args];
    const t0 = performance.now();
    const p = spawnSync(c, a, { cwd: root, encoding: "utf8" });
    stats[k].wall.push(performance.now() - t0);
    if (p.status !== 0) throw new Error(`${name}: exit ${p.status}\n${p.stderr}`);
    if (timeBin) stats[k].cpu.push(readFileSync(cpuLog, "utf8").trim().split(/\s+/).slice(-2).reduce((s, x) => s + 1000 * Number(x), 0));
    if (firstRecord) {
      const first = JSON.parse(readFileSync(probeLog, "utf8").split("\n")[0]);
      stats[k].firstWall.push(first.wall);
      stats[k].firstCpu.push(first.cpu);
    }
  });
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1].toFixed(0) : "");
console.log(`node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; median of ${runs} alternating runs (ms)`);
console.log("| command | wall | wall min | CPU (user+sys) | to first record, wall | to first record, CPU |");
console.log("|---|---:|---:|---:|---:|---:|");
cases.forEach(([name], k) => {
  const s = stats[k];
  console.log(`| \`${name}\` | ${median(s.wall)} | ${Math.min(...s.wall).toFixed(0)} | ${median(s.cpu)} | ${median(s.firstWall)} | ${median(s.firstCpu)} |`);
});

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
    const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(line);
    if (m && !m[1].startsWith("@sfmed/")) names.add(m[1]);
  }
  return [...names].sort();
};
for (const b of [bin, ...others]) {
  console.log(`\nthird-party packages loaded by ${path.relative(root, b)}:`);
  for (const [name, args] of [
    ["dedup (1 doc)", dedup],
    ["eval rouge", rouge],
    ["--version", ["--version"]],
  ])
    console.log(`  ${name}: ${packagesOf(b, args).join(", ") || "(none)"}`);
}
