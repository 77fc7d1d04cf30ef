// Start-up cost: what a command line imports decides how long `sfmed ... --help` takes. openai (~80 ms) is for
// judge runs only and @sfmed/schema (zod, csv: ~120 ms) is not needed for --version; dedup and the library code it
// runs read through @sfmed/schema/io, which leaves zod, the record schemas and csv-parse out.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";

function importsOf(args: string[]): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), "sfmed-imports-"));
  const log = path.join(dir, "resolved.txt");
  writeFileSync(log, "");
  const hooks = path.join(dir, "hooks.mjs");
  writeFileSync(hooks, `import { appendFileSync } from "node:fs";\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + "\\n"); return r; }\n`);
  const preload = path.join(dir, "preload.mjs");
  writeFileSync(preload, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const r = spawnSync(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", "--import", preload, path.join(repoRoot, "packages/cli/src/bin.ts"), ...args], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(log, "utf8").trim().split("\n");
}

describe("start-up imports", () => {
  it("--version loads neither @sfmed/schema nor zod", () => {
    const urls = importsOf(["--version"]);
    expect(urls.some((u) => u.includes("commander"))).toBe(true);
    expect(urls.filter((u) => /packages\/schema\/|node_modules\/zod\//.test(u))).toEqual([]);
  }, 90_000);

  it("dedup of a JSONL file loads neither zod, the record schemas, csv-parse nor (quiet) cli-progress", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sfmed-dedup-in-"));
    const input = path.join(dir, "in.jsonl");
    writeFileSync(input, ["发热三天，咳嗽有痰", "发热三天，咳嗽有痰", "头痛伴恶心"].map((text, i) => JSON.stringify({ id: `d${i}`, text })).join("\n") + "\n");
    const urls = importsOf(["dedup", input, "-o", path.join(dir, "out.jsonl"), "--threads", "0", "-q"]);
    expect(urls.some((u) => u.includes("packages/dedup/src/"))).toBe(true);
    expect(readFileSync(path.join(dir, "out.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
    expect(urls.filter((u) => /node_modules\/(zod|csv-parse|csv-stringify|cli-progress)\/|packages\/schema\/src\/(records|validate|index)\.ts/.test(u))).toEqual([]);
  }, 90_000);

  it("eval compare --help loads its command module but not openai or @sfmed/llm", () => {
    const urls = importsOf(["eval", "compare", "--help"]);
    expect(urls.some((u) => u.includes("commands/eval.ts"))).toBe(true);
    expect(urls.filter((u) => /node_modules\/openai\/|packages\/llm\//.test(u))).toEqual([]);
  }, 90_000);
});
