#!/usr/bin/env node
// What a stranger gets from `npm install @sfmed/<name>`, checked from the packed tarballs (no workspace links):
//  1. `npm pack` every published package; each tarball holds LICENSE, README.md and dist, and its package.json has
//     no dev-only "@sfmed/source" condition (the prepack/postpack pair strips it).
//  2. attw and publint --strict on each tarball.
//  3. A temp project installs all tarballs (plus the optional peers) from the registry and runs an ESM script, a
//     CJS script and `tsc --noEmit` (node16 and bundler resolution) over every entry point and subpath.
//  4. dedup, eval-metrics and cli installed alone (optional peers absent): install size against a budget, no
//     native install scripts, and a missing optional peer fails with MissingPeerError.
// Needs the packages built (`npm run build`) and the npm registry for third-party dependencies.
// Usage: node scripts/consumer-check.mjs [--keep]   (--keep leaves the temp directory for inspection)
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PACKAGES = ["schema", "llm", "dedup", "dpo-merge", "eval-metrics", "instruct-augment", "pref-select", "privacy-probe", "train-runner", "cli"];
// Optional peers the full project installs so every subpath can be exercised.
const PEERS = { "@huggingface/hub": "^2.17.5", usearch: "~2.25.3", "@node-rs/jieba": "^2.0.1" };
// Install size of a package installed alone with its dependencies (optional peers absent), in MB (apparent size).
// Floor: @sfmed/schema brings zod (6.0 MB, the validation every record goes through) and the CSV/Parquet codecs
// (3.2 MB), so dedup cannot reach 5 MB; 0.5 MB headroom over today's 9.9 MB for dependency patch releases.
// The CLI adds openai (12.3 MB, every model call), ajv, commander, yaml, and @huggingface/hub (6.9 MB with its
// dependencies: hf:// inputs, model ids and `sfmed push`, which a CLI user reaches for first): 34.5 MB.
const BUDGET_MB = { dedup: 10.5, "eval-metrics": 10.5, cli: 36 };
// attw's strict profile includes TypeScript's legacy `moduleResolution: node` (node10), which cannot see
// `exports`: the subpaths (`@sfmed/schema/parquet`, `/hub`, `@sfmed/privacy-probe/usearch`) resolve there through
// `typesVersions`.
const ATTW_PROFILE = "strict";

const TYPES = `
import { formatLocation, MissingPeerError, readRecords } from "@sfmed/schema";
import { readParquet, writeParquet } from "@sfmed/schema/parquet";
import { RECORD_KINDS, scanRows } from "@sfmed/schema/io";
import { downloadDataset, readHubRecords } from "@sfmed/schema/hub";
import { createOpenAIModel, stableStringify } from "@sfmed/llm";
import { normalizeText, dedupJsonl } from "@sfmed/dedup";
import { linearMerge } from "@sfmed/dpo-merge";
import { rougeL, rougeLBatch } from "@sfmed/eval-metrics";
import { splitCandidates } from "@sfmed/instruct-augment";
import { candidateLabels } from "@sfmed/pref-select";
import { residentIdCheckChar } from "@sfmed/privacy-probe";
import { UsearchIndex } from "@sfmed/privacy-probe/usearch";
import { shellQuote } from "@sfmed/train-runner";
import { buildProgram } from "@sfmed/cli";

const s: string = formatLocation({ file: "a", line: 1 }) + stableStringify({}) + normalizeText("x") + shellQuote("x") + residentIdCheckChar("11010519491231002");
const f: number = rougeL("a", "b").f + linearMerge({ tensors: [new Float32Array(1)], weights: [1] })[0]!;
const labels: string[] = candidateLabels(2).concat(splitCandidates("x"));
const e: MissingPeerError = new MissingPeerError("usearch", "x");
export async function typed(): Promise<void> {
  for await (const r of readRecords("a.jsonl", { kind: "dialogue" })) r.record.messages;
  for await (const r of readHubRecords({ repo: "x/y", path: "a.jsonl", kind: "dialogue" })) r.record.messages;
  for await (const r of readParquet("a.parquet", { kind: "dialogue" })) r.record.messages;
  for await (const r of scanRows("a.jsonl")) r.line;
  RECORD_KINDS.includes("doc");
  await writeParquet("a.parquet", []);
  await downloadDataset({ repo: "x/y" });
  await rougeLBatch([{ candidate: "a", reference: "b" }]);
  await dedupJsonl(["a.jsonl"]);
  new UsearchIndex({ dim: 2 }).search(new Float32Array(2));
  createOpenAIModel({ model: "m", baseURL: "http://localhost" });
  await buildProgram();
}
export { s, f, labels, e };
`;

const PEER_CHECK = {
  dedup: `
import assert from "node:assert/strict";
import { normalizeText } from "@sfmed/dedup";
assert.equal(typeof normalizeText("ＡＢＣ"), "string");
const { downloadDataset } = await import("@sfmed/schema/hub");
const offline = async () => { throw new Error("no network in this check"); };
await assert.rejects(downloadDataset({ repo: "x/y", revision: "0".repeat(40), cacheDir: "hf-cache", fetch: offline }), (e) => e.name === "MissingPeerError" && e.code === "ERR_SFMED_MISSING_PEER" && e.peer === "@huggingface/hub");
`,
  "eval-metrics": `
import assert from "node:assert/strict";
import { rougeL } from "@sfmed/eval-metrics";
assert.equal(rougeL("头痛发热", "头痛发热").f, 1);
assert.throws(() => rougeL("头痛", "头痛", { tokenizer: "jieba" }), (e) => e.name === "MissingPeerError" && e.peer === "@node-rs/jieba");
`,
  cli: `
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
assert.match(execFileSync("node_modules/.bin/sfmed", ["--version"], { encoding: "utf8" }), /\\d+\\.\\d+\\.\\d+/);
const { UsearchIndex } = await import("@sfmed/privacy-probe/usearch");
assert.throws(() => new UsearchIndex({ dim: 2 }), (e) => e.name === "MissingPeerError" && e.peer === "usearch");
`,
};

const keep = process.argv.includes("--keep");
const work = mkdtempSync(path.join(tmpdir(), "sfmed-consumer-"));
const failures = [];
const t0 = Date.now();
const step = (s) => console.log(`\n==> ${s} (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
const fail = (msg) => {
  failures.push(msg);
  console.log(`FAIL ${msg}`);
};
const env = { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env, maxBuffer: 64 << 20, ...opts });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
function must(cmd, args, opts) {
  const r = run(cmd, args, opts);
  if (!r.ok) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.out}`);
  return r;
}
const bin = (name) => path.join(root, "node_modules", ".bin", name);

try {
  // 1. pack
  step("npm pack");
  const tarballs = path.join(work, "tarballs");
  mkdirSync(tarballs);
  const packed = JSON.parse(
    must("npm", ["pack", "--json", "--pack-destination", tarballs, ...PACKAGES.flatMap((p) => ["-w", `packages/${p}`])], { cwd: root }).stdout,
  );
  const tgz = {};
  for (const p of packed) {
    const short = p.name.replace("@sfmed/", "");
    tgz[short] = path.join(tarballs, p.filename);
    const files = new Set(p.files.map((f) => f.path));
    for (const need of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/index.d.cts"]) {
      if (!files.has(need)) fail(`${p.name}: tarball lacks ${need}`);
    }
    if (files.has("dist/bin.cjs")) fail(`${p.name}: tarball ships the unused dist/bin.cjs`);
    const manifest = execFileSync("tar", ["-xOzf", tgz[short], "package/package.json"], { encoding: "utf8" });
    if (manifest.includes("@sfmed/source")) fail(`${p.name}: packed package.json still has the "@sfmed/source" condition`);
    const local = readFileSync(path.join(root, "packages", short, "package.json"), "utf8");
    if (!local.includes("@sfmed/source")) fail(`${p.name}: postpack did not restore package.json`);
    console.log(`${p.name.padEnd(26)} ${String(p.entryCount).padStart(4)} files  ${(p.size / 1024).toFixed(0).padStart(6)} kB packed  ${(p.unpackedSize / 1024).toFixed(0).padStart(6)} kB unpacked`);
  }
  for (const p of PACKAGES) if (!tgz[p]) fail(`@sfmed/${p}: not packed`);

  // 2. attw + publint
  step(`attw (--profile ${ATTW_PROFILE}) and publint --strict`);
  for (const p of PACKAGES) {
    const a = run(bin("attw"), [tgz[p], "--profile", ATTW_PROFILE, "--format", "table-flipped"]);
    if (!a.ok) fail(`attw @sfmed/${p}:\n${a.out}`);
    const l = run(bin("publint"), ["run", tgz[p], "--strict"]);
    if (!l.ok) fail(`publint @sfmed/${p}:\n${l.out}`);
    console.log(`@sfmed/${p.padEnd(18)} attw ${a.ok ? "ok" : "FAIL"}  publint ${l.ok ? "ok" : "FAIL"}`);
  }

  // Every @sfmed dependency resolves to its tarball, never to the registry.
  const overrides = Object.fromEntries(PACKAGES.map((p) => [`@sfmed/${p}`, `file:${tgz[p]}`]));
  const typesNode = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).devDependencies["@types/node"];
  const tsVersion = JSON.parse(readFileSync(path.join(root, "node_modules/typescript/package.json"), "utf8")).version;

  // 3. full consumer project
  step("consumer project: npm install of all tarballs + optional peers");
  const app = path.join(work, "app");
  mkdirSync(app);
  writeFileSync(
    path.join(app, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { ...overrides, ...PEERS, "@types/node": typesNode, typescript: tsVersion }, overrides }, null, 2),
  );
  must("npm", ["install", "--no-package-lock", "--foreground-scripts=false"], { cwd: app });
  writeFileSync(path.join(app, "smoke.mjs"), SMOKE("esm"));
  writeFileSync(path.join(app, "smoke.cjs"), SMOKE("cjs"));
  writeFileSync(path.join(app, "types.ts"), TYPES);
  for (const [name, file] of [["ESM", "smoke.mjs"], ["CJS", "smoke.cjs"]]) {
    const r = run(process.execPath, [file], { cwd: app });
    console.log(`${name}: ${r.ok ? r.stdout.trim().split("\n").at(-1) : "FAIL"}`);
    if (!r.ok) fail(`${name} smoke:\n${r.out}`);
  }
  const tsconfigs = {
    node16: { module: "node16", moduleResolution: "node16" },
    bundler: { module: "esnext", moduleResolution: "bundler" },
  };
  for (const [name, opts] of Object.entries(tsconfigs)) {
    writeFileSync(
      path.join(app, `tsconfig.${name}.json`),
      JSON.stringify({ compilerOptions: { ...opts, target: "es2022", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] }, files: ["types.ts"] }),
    );
    const r = run(process.execPath, [path.join(app, "node_modules/typescript/bin/tsc"), "-p", `tsconfig.${name}.json`], { cwd: app });
    console.log(`tsc --noEmit (${name}): ${r.ok ? "ok" : "FAIL"}`);
    if (!r.ok) fail(`tsc ${name}:\n${r.out}`);
  }

  // 4. installed alone
  step("installed alone: size, install scripts, missing optional peers");
  const rows = [];
  for (const p of Object.keys(BUDGET_MB)) {
    const dir = path.join(work, `alone-${p}`);
    mkdirSync(dir);
    const { [`@sfmed/${p}`]: self, ...others } = overrides;
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `alone-${p}`, private: true, type: "module", dependencies: { [`@sfmed/${p}`]: self }, overrides: others }, null, 2));
    const inst = must("npm", ["install", "--no-package-lock"], { cwd: dir });
    // The CLI depends on @huggingface/hub itself (hf:// inputs, model ids, push); for the libraries it is optional.
    const absent = p === "cli" ? ["usearch", "@node-rs/jieba"] : ["usearch", "@node-rs/jieba", "@huggingface/hub"];
    for (const native of absent) {
      if (run("test", ["-e", path.join(dir, "node_modules", native)]).ok) fail(`@sfmed/${p} alone installs the optional peer ${native}`);
    }
    if (p === "cli" && !run("test", ["-e", path.join(dir, "node_modules", "@huggingface/hub")]).ok) fail("@sfmed/cli alone lacks @huggingface/hub, which its Hub commands need");
    if (/install script|node-gyp/i.test(inst.out)) fail(`@sfmed/${p} alone: npm printed an install-script notice:\n${inst.out}`);
    // Apparent size (bytes in files, as npm's unpackedSize counts), not disk blocks.
    const kb = Number(must("du", ["-sk", "--apparent-size", path.join(dir, "node_modules")]).stdout.split(/\s/)[0]);
    const mb = kb / 1024;
    const count = must("npm", ["ls", "--all", "--parseable"], { cwd: dir }).stdout.trim().split("\n").length - 1;
    rows.push({ p, mb, count });
    if (mb > BUDGET_MB[p]) fail(`@sfmed/${p} alone: node_modules ${mb.toFixed(2)} MB > budget ${BUDGET_MB[p]} MB`);
    writeFileSync(path.join(dir, "peer.mjs"), PEER_CHECK[p]);
    const r = run(process.execPath, ["peer.mjs"], { cwd: dir });
    if (!r.ok) fail(`@sfmed/${p} alone, missing-peer check:\n${r.out}`);
  }
  console.log("\npackage (alone)        node_modules   budget   packages");
  for (const { p, mb, count } of rows) console.log(`@sfmed/${p.padEnd(16)} ${mb.toFixed(2).padStart(8)} MB ${String(BUDGET_MB[p]).padStart(5)} MB ${String(count).padStart(8)}`);
} catch (err) {
  fail(String(err instanceof Error ? err.message : err));
} finally {
  if (keep) console.log(`\nkept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
step(failures.length ? `consumer check: ${failures.length} failure(s)` : "consumer check: ok");
if (failures.length) process.exitCode = 1;

// One call per public entry point. `mod` is "esm" or "cjs".
function SMOKE(mod) {
  const load = mod === "esm" ? (spec) => `(await import(${JSON.stringify(spec)}))` : (spec) => `require(${JSON.stringify(spec)})`;
  const body = `
const assert = ${load("node:assert/strict")};
const os = ${load("node:os")};
const fs = ${load("node:fs")};
const path = ${load("node:path")};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sfmed-smoke-"));
const schema = ${load("@sfmed/schema")};
assert.equal(schema.formatLocation({ file: "a.jsonl", line: 3 }), "a.jsonl:3");
const io = ${load("@sfmed/schema/io")};
assert.equal(io.ValidationError, schema.ValidationError);
assert.equal(io.removeTempsNow, schema.removeTempsNow);
assert.deepEqual([...io.RECORD_KINDS].sort(), Object.keys(schema.recordSchemas).sort());
fs.writeFileSync(path.join(tmp, "d.jsonl"), '{"id":"d","text":"咳嗽"}\\n{"id":""}\\n');
const docs = [];
for await (const r of io.readRecords(path.join(tmp, "d.jsonl"), { kind: "doc", onInvalid: "skip" })) docs.push(r.record.id);
assert.deepEqual(docs, ["d"]);
const parquet = ${load("@sfmed/schema/parquet")};
const pq = path.join(tmp, "x.parquet");
await parquet.writeParquet(pq, [{ id: "1", text: "头痛" }]);
const rows = [];
for await (const r of parquet.readParquet(pq)) rows.push(r.record);
assert.deepEqual(rows, [{ id: "1", text: "头痛" }]);
const hub = ${load("@sfmed/schema/hub")};
const notFound = async () => new Response("no", { status: 404 });
await assert.rejects(hub.downloadDataset({ repo: "x/y", revision: "0".repeat(40), paths: ["a.jsonl"], cacheDir: tmp, fetch: notFound }), (e) => e.name === "HubError");
assert.equal(${load("@sfmed/llm")}.stableStringify({ b: 1, a: 2 }), '{"a":2,"b":1}');
assert.equal(typeof ${load("@sfmed/dedup")}.normalizeText("ＡＢＣ"), "string");
assert.deepEqual(Array.from(${load("@sfmed/dpo-merge")}.linearMerge({ tensors: [Float32Array.of(1, 2), Float32Array.of(3, 4)], weights: [0.5, 0.5] })), [2, 3]);
const em = ${load("@sfmed/eval-metrics")};
assert.equal(em.rougeL("头痛发热", "头痛发热").f, 1);
assert.ok(em.rougeL("头痛发热", "发热", { tokenizer: "jieba" }).f > 0);
assert.ok(Array.isArray(${load("@sfmed/instruct-augment")}.splitCandidates("1. 问题一？\\n2. 问题二？")));
assert.deepEqual(${load("@sfmed/pref-select")}.candidateLabels(2).length, 2);
const pp = ${load("@sfmed/privacy-probe")};
assert.equal(pp.residentIdCheckChar("11010519491231002"), "X");
const { UsearchIndex } = ${load("@sfmed/privacy-probe/usearch")};
const index = new UsearchIndex({ dim: 2 });
index.add("a", Float32Array.of(1, 0));
assert.equal(index.search(Float32Array.of(1, 0.1), 1)[0].id, "a");
assert.equal(${load("@sfmed/train-runner")}.shellQuote("a b"), "'a b'");
const cli = ${load("@sfmed/cli")};
assert.equal(typeof (await cli.buildProgram()).parse, "function");
fs.rmSync(tmp, { recursive: true, force: true });
console.log("${mod}: every entry point loaded and answered");
`;
  return mod === "esm" ? body : `(async () => {${body}})().catch((e) => { console.error(e); process.exit(1); });\n`;
}
