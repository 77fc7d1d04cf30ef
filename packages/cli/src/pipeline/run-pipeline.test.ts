import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { homedir, hostname } from "node:os";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { splitArgs } from "./argv.js";
import { runPipeline, type StageEvent } from "./run-pipeline.js";
import { loadPipeline } from "./spec.js";

/**
 * A fake `sfmed`: `cat IN... -o OUT` concatenates files; `fail` fails; `stop CODE` exits with CODE (130: stopped by
 * SIGINT); `echo-url URL -o OUT` writes the URL; `train sft -o OUT` saves OUT/checkpoint-3 and crashes unless given
 * `--resume` with that checkpoint present, then writes OUT/model.
 */
function fakeSfmed(calls: string[][]) {
  return async (argv: string[]) => {
    calls.push(argv);
    const o = argv.indexOf("-o");
    if (argv[0] === "fail") return 3;
    if (argv[0] === "stop") return Number(argv[1]);
    if (argv[0] === "train") {
      const out = argv[o + 1]!;
      if (argv.includes("--resume") && existsSync(path.join(out, "checkpoint-3"))) {
        await writeFile(path.join(out, "model"), "trained from checkpoint-3");
        return 0;
      }
      await mkdir(path.join(out, "checkpoint-3"), { recursive: true });
      return 1;
    }
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
    expect(JSON.parse(await readFile(path.join(dir, "out/three/.sfmed-stage.json"), "utf8"))).toMatchObject({ stage: "three", state: "running" });
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

const noService = async () => ({ url: "", close: async () => {} });

describe("interrupted and failed stages", () => {
  it("a stage stopped by a signal (exit 130/143) is not done: the run stops with that code and reruns it", async () => {
    for (const [code, signal] of [[130, "SIGINT"], [143, "SIGTERM"]] as const) {
      const yaml = `stages:\n  one:\n    run: cat \${dir}/a.txt -o \${out}/one.txt\n  two:\n    run: stop ${code}\n  three:\n    run: cat \${dir}/b.txt -o \${out}/three.txt\n`;
      const { dir, file } = await setup(yaml);
      const calls: string[][] = [];
      const events: StageEvent[] = [];
      const err = (await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService, onStage: (e) => events.push(e) }).catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ name: "InterruptedError", signal, exitCode: code });
      expect(err.message).toMatch(/during stage "two"/);
      expect(calls.map((c) => c[0])).toEqual(["cat", "stop"]);
      expect(events.find((e) => e.stage === "two" && e.status !== "running")?.status).toBe("interrupted");
      expect(JSON.parse(await readFile(path.join(dir, "out/two/.sfmed-stage.json"), "utf8")).state).toBe("running");
      const report = JSON.parse(await readFile(path.join(dir, "out/pipeline-report.json"), "utf8"));
      expect(report.ok).toBe(false);
      await writeFile(file, yaml.replace(`stop ${code}`, "cat ${dir}/b.txt -o ${out}/two.txt"));
      const r = await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService });
      expect(r.stages.map((s) => s.status)).toEqual(["cached", "done", "done"]);
    }
  });

  it("an aborted run starts no further stage", async () => {
    const { file } = await setup(YAML);
    const ac = new AbortController();
    const calls: string[][] = [];
    const run = fakeSfmed(calls);
    const err = await runPipeline(await loadPipeline(file), {
      runCommand: async (argv) => (ac.abort("SIGTERM"), run(argv)),
      startService: noService,
      signal: ac.signal,
    }).catch((e: unknown) => e);
    // The first stage finished (exit 0) and counts as done; nothing after it starts.
    expect(err).toMatchObject({ name: "InterruptedError", signal: "SIGTERM", exitCode: 143 });
    expect(calls).toHaveLength(1);
  });

  const TRAIN = `stages:\n  data:\n    run: cat \${dir}/a.txt -o \${out}/sft.txt\n  sft:\n    run: train sft --config \${dir}/a.txt -o \${out} --set data.train=\${data}/sft.txt\n`;

  it("a rerun of a failed training stage keeps its checkpoint and asks the trainer to resume", async () => {
    const { dir, file } = await setup(TRAIN);
    const calls: string[][] = [];
    const err = (await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: "PipelineStageError", stage: "sft" });
    expect(err.message).toMatch(/training continues from its newest checkpoint/);
    expect(existsSync(path.join(dir, "out/sft/checkpoint-3"))).toBe(true);
    const events: StageEvent[] = [];
    const r = await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService, onStage: (e) => events.push(e) });
    expect(r.stages.map((s) => s.status)).toEqual(["cached", "done"]);
    expect(calls.at(-1)).toContain("--resume");
    expect(events.some((e) => e.stage === "sft" && e.status === "resumed")).toBe(true);
    expect(await readFile(path.join(dir, "out/sft/model"), "utf8")).toBe("trained from checkpoint-3");
    expect(existsSync(path.join(dir, "out/sft/checkpoint-3"))).toBe(true);
  });

  it("keeps the checkpoints of a training stage whose inputs changed until --force says to start over", async () => {
    const { dir, file } = await setup(TRAIN);
    const calls: string[][] = [];
    await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService }).catch(() => undefined);
    await writeFile(path.join(dir, "a.txt"), "A2");
    const err = (await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: "PipelineOutputError", code: "stale_checkpoints", stage: "sft" });
    expect(err.message).toMatch(/--force sft/);
    expect(existsSync(path.join(dir, "out/sft/checkpoint-3"))).toBe(true);
    const n = calls.length;
    await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService, force: ["sft"] }).catch(() => undefined);
    expect(calls.slice(n).at(-1)).not.toContain("--resume");
    // The forced run failed after its checkpoint too: a plain rerun continues it.
    const r = await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService });
    expect(r.stages.map((s) => s.status)).toEqual(["cached", "done"]);
    expect(calls.at(-1)).toContain("--resume");
  });
});

describe("the pipeline deletes only what it made", () => {
  it("refuses a stage folder it did not make, naming it, and leaves it alone", async () => {
    const { dir, file } = await setup(`out: .\nstages:\n  data:\n    run: cat /etc/hostname -o \${out}/x.txt\n`);
    await mkdir(path.join(dir, "data"));
    await writeFile(path.join(dir, "data/precious.csv"), "keep me");
    const calls: string[][] = [];
    const err = (await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: "PipelineOutputError", code: "not_ours", folder: path.join(dir, "data") });
    expect(err.message).toContain(path.join(dir, "data"));
    expect(err.message).toMatch(/Move it away.*or set `out:`/);
    expect(calls).toHaveLength(0);
    expect(await readFile(path.join(dir, "data/precious.csv"), "utf8")).toBe("keep me");
    // A folder marked as another stage's is not ours to replace either.
    await writeFile(path.join(dir, "data/.sfmed-stage.json"), JSON.stringify({ stage: "other", key: "k", state: "done" }));
    await expect(runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService })).rejects.toMatchObject({ code: "other_stage" });
    expect(await readdir(path.join(dir, "data"))).toContain("precious.csv");
  });

  it("refuses out: that holds the pipeline's inputs or lies inside one", async () => {
    const { dir, file } = await setup(`out: .\nstages:\n  one:\n    run: cat \${dir}/a.txt -o \${out}/one.txt\n`);
    const err = (await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed([]), startService: noService }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: "PipelineOutputError", code: "input_in_out", stage: "one" });
    expect(err.message).toMatch(/the pipeline file's own folder that holds the input .*a\.txt/);
    await mkdir(path.join(dir, "in"));
    await writeFile(path.join(dir, "in/c.txt"), "C");
    await writeFile(file, `out: in/out\nstages:\n  one:\n    run: cat \${dir}/in/c.txt -o \${out}/one.txt\n    inputs: \${dir}/in\n`);
    await expect(runPipeline(await loadPipeline(file), { runCommand: fakeSfmed([]), startService: noService })).rejects.toMatchObject({ code: "out_in_input" });
    expect(existsSync(path.join(dir, "in/out/one"))).toBe(false);
  });

  it("does not overwrite a report file it did not write", async () => {
    const { dir, file } = await setup(`out: res\nstages:\n  one:\n    run: cat \${dir}/a.txt -o \${out}/one.txt\n`);
    await mkdir(path.join(dir, "res"));
    await writeFile(path.join(dir, "res/report.html"), "<p>my report</p>");
    await expect(runPipeline(await loadPipeline(file), { runCommand: fakeSfmed([]), startService: noService })).rejects.toMatchObject({ code: "not_ours", folder: path.join(dir, "res/report.html") });
  });

  it("refuses to share out: with a run in progress, and takes over the lock of a killed one", async () => {
    const { dir, file } = await setup(YAML);
    await mkdir(path.join(dir, "out"));
    const lock = path.join(dir, "out/.sfmed-pipeline.lock");
    await writeFile(lock, JSON.stringify({ pid: process.ppid, host: hostname() }));
    const calls: string[][] = [];
    await expect(runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService })).rejects.toMatchObject({ code: "locked", message: expect.stringContaining(`pid ${process.ppid}`) });
    expect(calls).toHaveLength(0);
    await writeFile(lock, JSON.stringify({ pid: 4194305, host: hostname() }));
    const r = await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed(calls), startService: noService });
    expect(r.stages.map((s) => s.status)).toEqual(["done", "done", "done"]);
    expect(existsSync(lock)).toBe(false);
  });

  it("removes temp files a killed run left in its own folders, and only there", async () => {
    const { dir, file } = await setup(YAML);
    await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed([]), startService: noService });
    // pid 2^22 + 1 is above Linux's pid_max: no live process wrote these.
    const stale = [path.join(dir, "out/one/.one.txt.4194305.abc123.tmp"), path.join(dir, "out/.pipeline-report.json.4194305.x1.tmp")];
    const foreign = path.join(dir, ".a.txt.4194305.q9.tmp");
    for (const f of [...stale, foreign]) await writeFile(f, "partial");
    const notices: string[] = [];
    await runPipeline(await loadPipeline(file), { runCommand: fakeSfmed([]), startService: noService, onNotice: (m) => notices.push(m) });
    for (const f of stale) expect(existsSync(f)).toBe(false);
    expect(existsSync(foreign)).toBe(true);
    expect(notices.join()).toMatch(/removed 2 temp file/);
  });
});

describe("input hashing", () => {
  it("refuses to hash the root or the home folder, and inputs past the limits", async () => {
    const root = await setup(`stages:\n  one:\n    run: cat \${dir}/a.txt -o \${out}/one.txt\n    inputs: /\n`);
    await expect(runPipeline(await loadPipeline(root.file), { runCommand: fakeSfmed([]), startService: noService })).rejects.toMatchObject({
      name: "InputHashError",
      code: "unsafe",
      message: expect.stringMatching(/stage "one": input \/ is the file system root/),
    });
    const home = await setup(`stages:\n  one:\n    run: cat \${dir}/a.txt -o \${out}/one.txt\n    inputs: ${homedir()}\n`);
    await expect(runPipeline(await loadPipeline(home.file), { runCommand: fakeSfmed([]), startService: noService })).rejects.toMatchObject({ code: "unsafe" });
    const big = await setup(`stages:\n  one:\n    run: cat \${dir}/a.txt -o \${out}/one.txt\n    inputs: \${dir}/many\n`);
    await mkdir(path.join(big.dir, "many"));
    for (let i = 0; i < 5; i++) await writeFile(path.join(big.dir, "many", `${i}.txt`), "x");
    await expect(runPipeline(await loadPipeline(big.file), { runCommand: fakeSfmed([]), startService: noService, hashLimits: { maxFiles: 4, maxBytes: 1e9 } })).rejects.toMatchObject({
      code: "too_large",
      message: expect.stringMatching(/many holds more than 4 files/),
    });
  });

  it("a command naming a path outside the project fingerprints it without walking it", async () => {
    // The root, named as an ordinary argument: size and mtime only, so this is fast and changes no key.
    const { file } = await setup(`stages:\n  one:\n    run: cat \${dir}/a.txt -o \${out}/one.txt --cache-dir /\n`);
    const calls: string[][] = [];
    const run = fakeSfmed(calls);
    const opts = { runCommand: (argv: string[]) => run(argv.slice(0, -2)), startService: noService };
    const first = await runPipeline(await loadPipeline(file), opts);
    const second = await runPipeline(await loadPipeline(file), opts);
    expect(first.stages[0]!.status).toBe("done");
    expect(second.stages[0]!.status).toBe("cached");
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
