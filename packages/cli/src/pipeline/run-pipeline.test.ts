import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { splitArgs } from "./argv.js";
import { runPipeline, type StageEvent } from "./run-pipeline.js";
import { loadPipeline } from "./spec.js";

/** A fake `sfmed`: `cat IN... -o OUT` concatenates files; `fail` fails; `echo-url URL -o OUT` writes the URL. */
function fakeSfmed(calls: string[][]) {
  return async (argv: string[]) => {
    calls.push(argv);
    const o = argv.indexOf("-o");
    if (argv[0] === "fail") return 3;
    if (argv[0] === "cat") {
      const parts = await Promise.all(argv.slice(1, o).map((f) => readFile(f, "utf8")));
      await writeFile(argv[o + 1]!, parts.join(""));
      return 0;
    }
    if (argv[0] === "echo-url") {
      await writeFile(argv[o + 1]!, argv[1]!);
      return 0;
    }
    return 2;
  };
}

async function setup(yaml: string) {
  const dir = await tempDir();
  await writeFile(path.join(dir, "a.txt"), "A");
  await writeFile(path.join(dir, "b.txt"), "B");
  const file = path.join(dir, "p.yaml");
  await writeFile(file, yaml);
  return { dir, file };
}

const YAML = `name: t
out: out
vars:
  data: \${dir}
stages:
  one:
    run: cat \${data}/a.txt -o \${out}/one.txt
  two:
    run: [cat, "\${one}/one.txt", "\${data}/b.txt", -o, "\${out}/two.txt"]
  three:
    run: cat \${data}/b.txt -o \${out}/three.txt
`;

describe("pipeline", () => {
  it("runs stages in order, then reuses every finished stage", async () => {
    const { dir, file } = await setup(YAML);
    const calls: string[][] = [];
    const spec = await loadPipeline(file);
    const first = await runPipeline(spec, { runCommand: fakeSfmed(calls), startService: async () => ({ url: "", close: async () => {} }) });
    expect(first.stages.map((s) => s.status)).toEqual(["done", "done", "done"]);
    expect(await readFile(path.join(dir, "out/two/two.txt"), "utf8")).toBe("AB");
    const second = await runPipeline(spec, { runCommand: fakeSfmed(calls), startService: async () => ({ url: "", close: async () => {} }) });
    expect(second.stages.map((s) => s.status)).toEqual(["cached", "cached", "cached"]);
    expect(calls).toHaveLength(3);
    expect(JSON.parse(await readFile(second.reportPath, "utf8")).ok).toBe(true);
  });

  it("re-runs only what depends on a changed input", async () => {
    const { dir, file } = await setup(YAML);
    const calls: string[][] = [];
    const opts = { runCommand: fakeSfmed(calls), startService: async () => ({ url: "", close: async () => {} }) };
    await runPipeline(await loadPipeline(file), opts);
    await writeFile(path.join(dir, "a.txt"), "A2");
    const r = await runPipeline(await loadPipeline(file), opts);
    expect(r.stages.map((s) => s.status)).toEqual(["done", "done", "cached"]);
    expect(await readFile(path.join(dir, "out/two/two.txt"), "utf8")).toBe("A2B");
  });

  it("re-runs a stage whose command changed, and its dependents", async () => {
    const { file } = await setup(YAML);
    const calls: string[][] = [];
    const opts = { runCommand: fakeSfmed(calls), startService: async () => ({ url: "", close: async () => {} }) };
    await runPipeline(await loadPipeline(file), opts);
    await writeFile(file, YAML.replace("cat ${data}/a.txt -o", "cat ${data}/a.txt ${data}/a.txt -o"));
    const r = await runPipeline(await loadPipeline(file), opts);
    expect(r.stages.map((s) => s.status)).toEqual(["done", "done", "cached"]);
  });

  it("a failed stage keeps earlier outputs, leaves no marker, names the stage, and resumes", async () => {
    const { dir, file } = await setup(YAML.replace("run: cat ${data}/b.txt -o ${out}/three.txt", "run: fail -o ${out}/x"));
    const calls: string[][] = [];
    const opts = { runCommand: fakeSfmed(calls), startService: async () => ({ url: "", close: async () => {} }) };
    const err = (await runPipeline(await loadPipeline(file), opts).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: "PipelineStageError", stage: "three" });
    expect(err.message).toMatch(/resume from "three"/);
    expect(existsSync(path.join(dir, "out/two/two.txt"))).toBe(true);
    expect(existsSync(path.join(dir, "out/three/.sfmed-stage.json"))).toBe(false);
    await writeFile(file, YAML);
    const r = await runPipeline(await loadPipeline(file), opts);
    expect(r.stages.map((s) => s.status)).toEqual(["cached", "cached", "done"]);
  });

  it("starts services lazily, passes their URL, and closes them", async () => {
    const yaml = `stages:
  one:
    run: cat \${dir}/a.txt -o \${out}/one.txt
  model:
    service: serve \${one}
  use:
    run: echo-url \${model.url} -o \${out}/url.txt
`;
    const { dir, file } = await setup(yaml);
    const started: string[][] = [];
    let closed = 0;
    const opts = {
      runCommand: fakeSfmed([]),
      startService: async (argv: string[]) => (started.push(argv), { url: "http://127.0.0.1:9/v1", close: async () => void closed++ }),
    };
    const events: StageEvent[] = [];
    await runPipeline(await loadPipeline(file), { ...opts, onStage: (e) => events.push(e) });
    expect(started).toEqual([["serve", path.join(dir, "out", "one")]]);
    expect(closed).toBe(1);
    expect(await readFile(path.join(dir, "out/use/url.txt"), "utf8")).toBe("http://127.0.0.1:9/v1");
    // Fully cached: the service never starts.
    await runPipeline(await loadPipeline(file), opts);
    expect(started).toHaveLength(1);
    expect(events.filter((e) => e.status === "done").map((e) => e.stage)).toEqual(["one", "model", "use"]);
  });

  it("rejects malformed files naming the key", async () => {
    const bad = async (yaml: string) => (await loadPipeline((await setup(yaml)).file).catch((e: unknown) => e)) as Error;
    expect((await bad("stages:\n  x:\n    runn: a\n")).message).toMatch(/stages\.x\.runn: unknown key/);
    expect((await bad("stages:\n  Bad:\n    run: a\n")).message).toMatch(/stages\.Bad/);
    expect((await bad("stages:\n  x:\n    run: a\n    service: b\n")).message).toMatch(/exactly one of/);
    expect((await bad("stages: [1, 2\n")).name).toBe("PipelineSpecError");
    const { file } = await setup("stages:\n  x:\n    run: cat ${y}/f -o ${out}/g\n  y:\n    run: cat ${dir}/a.txt -o ${out}/f\n");
    await expect(runPipeline(await loadPipeline(file), { runCommand: fakeSfmed([]), startService: async () => ({ url: "", close: async () => {} }) })).rejects.toThrow(/not an earlier stage|unknown/);
  });
});

describe("variables", () => {
  it("a word that is exactly ${var} expands to the variable's words", async () => {
    const { dir, file } = await setup(`vars:\n  files: \${dir}/a.txt \${dir}/b.txt\nstages:\n  one:\n    run: cat \${files} -o \${out}/ab.txt\n`);
    await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed([]), startService: async () => ({ url: "", close: async () => {} }) });
    expect(await readFile(path.join(dir, "out/one/ab.txt"), "utf8")).toBe("AB");
  });
});

describe("splitArgs", () => {
  it("splits like a shell for quotes and escapes", () => {
    expect(splitArgs(`a "b c" 'd e' f\\ g "h\\"i" ''`)).toEqual(["a", "b c", "d e", "f g", 'h"i', ""]);
    expect(() => splitArgs(`a "b`)).toThrow(/unclosed/);
  });
});
