import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { fc, test } from "@fast-check/vitest";
import { repoRoot, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { newWorker, workerExecArgv } from "./worker-exec-argv.js";

describe("workerExecArgv", () => {
  it.each([
    [["--input-type=module", "-e", "import x from 'y'"], []],
    [["--input-type", "module", "--eval", "code"], []],
    [["--import", "tsx", "-p", "1+1"], ["--import", "tsx"]],
    [["--conditions=@sfmed/source", "--print=1", "--max-old-space-size=4096"], ["--conditions=@sfmed/source", "--max-old-space-size=4096"]],
    [["--enable-source-maps"], ["--enable-source-maps"]],
  ])("%j → %j", (argv, want) => expect(workerExecArgv(argv)).toEqual(want));

  const kept = fc.constantFrom("--import", "tsx", "--conditions=x", "--enable-source-maps", "--max-old-space-size=64", "--no-warnings");
  const entry = fc.oneof(
    fc.tuple(fc.constantFrom("-e", "--eval", "-p", "--print", "--input-type"), fc.string()).map(([f, v]) => [f, v]),
    fc.tuple(fc.constantFrom("--eval=", "--print=", "--input-type="), fc.string()).map(([f, v]) => [f + v]),
  );
  test.prop([fc.array(fc.oneof(kept.map((k) => ({ k })), entry.map((e) => ({ e }))))])(
    "keeps every other flag in order and drops every entry-code flag with its value",
    (parts) => {
      const argv = parts.flatMap((p) => ("k" in p ? [p.k] : p.e));
      expect(workerExecArgv(argv)).toEqual(parts.flatMap((p) => ("k" in p ? [p.k] : [])));
    },
  );
});

describe("newWorker", () => {
  // The worker reports its execArgv and heap limit; the parent prints them.
  const probe = (script: string, from = "@sfmed/schema/io") => `
    import { newWorker } from ${JSON.stringify(from)};
    const w = newWorker(${JSON.stringify(script)}, { eval: true });
    w.on("message", (m) => { process.stdout.write(JSON.stringify(m)); w.terminate(); });
  `;
  const report = `const { parentPort } = require("node:worker_threads"); parentPort.postMessage({ argv: process.execArgv, heap: require("node:v8").getHeapStatistics().heap_size_limit });`;
  const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
  const base = ["--conditions=@sfmed/source", "--import", "tsx"];

  it("starts under per-process flags with an ESM one-liner: entry-code and refused flags dropped, the rest kept", () => {
    const r = run(["--max-old-space-size=300", "--stack-size=900", "--title=sfmed-test", ...base, "--input-type=module", "-e", probe(report)]);
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as { argv: string[]; heap: number };
    expect(m.argv).toEqual(base);
    // the heap limit is process-wide: the worker still runs under it
    expect(m.heap).toBeLessThan(600 * 2 ** 20);
  }, 90_000);

  it("inherits the parent's flags as Node does when none belongs to entry code", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "probe.mjs");
    writeFileSync(file, probe(report, pathToFileURL(path.join(repoRoot, "packages/schema/src/io.ts")).href));
    const r = run(["--max-old-space-size=300", ...base, file]);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { argv: string[] }).argv).toEqual(["--max-old-space-size=300", ...base]);
  }, 90_000);

  it("drops refused flags from an explicit execArgv and passes other errors through", async () => {
    const w = newWorker(report, { eval: true, execArgv: ["--max-old-space-size=300", "--no-warnings"] });
    const m = await new Promise<{ argv: string[] }>((resolve) => w.once("message", resolve));
    await w.terminate();
    expect(m.argv).toEqual(["--no-warnings"]);
    expect(() => newWorker("not/relative.js", { execArgv: ["--title=x"] })).toThrow(expect.objectContaining({ code: "ERR_WORKER_PATH" }));
  });
});
