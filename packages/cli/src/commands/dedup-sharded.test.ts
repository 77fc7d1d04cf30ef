import { execFileSync } from "node:child_process";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { dedupJsonl, splitJsonl } from "@sfmed/dedup";
import { repoRoot, samplePath, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** sfmed from its TypeScript sources, as the tasks start it. */
const SFMED = [process.execPath, "--conditions=@sfmed/source", "--import", "tsx", path.join(repoRoot, "packages/cli/src/bin.ts")].map(q).join(" ");

/** The bundled BELLE sample as JSONL plus a second file of edited and exact copies of its first 40 records. */
async function sampleInputs(dir: string): Promise<string[]> {
  const lines = (await readFile(samplePath("belle/eval_set.json"), "utf8")).split("\n").filter((l) => l.trim());
  const a = path.join(dir, "belle.jsonl");
  const b = path.join(dir, "copies.jsonl");
  await writeFile(a, lines.join("\n") + "\n");
  const copies = lines.slice(0, 40).map((l, i) => {
    const r = JSON.parse(l) as { question: string };
    return JSON.stringify({ ...r, question: i % 2 ? r.question : `${r.question}。` });
  });
  await writeFile(b, copies.join("\r\n"));
  return [a, b];
}

async function oneMachine(files: string[], dir: string, o: { bands?: number; rows?: number } = {}): Promise<string> {
  const out = path.join(dir, "one-machine.jsonl");
  await splitJsonl(files, await dedupJsonl(files, { threads: 0, field: "question", ...o }), { kept: out });
  return readFile(out, "utf8");
}

/** A fake sbatch on PATH: logs its arguments, runs each array task of the script with SLURM_ARRAY_TASK_ID, prints an id. */
async function fakeSbatch(dir: string): Promise<{ env: NodeJS.ProcessEnv; log: string }> {
  const bin = path.join(dir, "bin");
  await mkdir(bin, { recursive: true });
  const log = path.join(dir, "sbatch.log");
  const script = [
    "#!/bin/bash",
    'printf "%s\\n" "$*" >> "$FAKE_SBATCH_LOG"',
    'script="${@: -1}"',
    'id=$((2000 + $(wc -l < "$FAKE_SBATCH_LOG")))',
    "last=$(sed -n 's/^#SBATCH --array=0-\\([0-9]*\\).*/\\1/p' \"$script\")",
    'for i in $(seq 0 "$last"); do SLURM_ARRAY_TASK_ID=$i bash "$script" >&2 || exit 1; done',
    'echo "$id"',
  ].join("\n");
  await writeFile(path.join(bin, "sbatch"), script + "\n");
  await chmod(path.join(bin, "sbatch"), 0o755);
  return { env: { PATH: `${bin}:${process.env.PATH}`, FAKE_SBATCH_LOG: log }, log };
}

async function withEnv<T>(env: NodeJS.ProcessEnv, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("sfmed dedup plan / run-stage / run / status", () => {
  it("keeps what sfmed dedup keeps on the bundled sample, task by task through run-stage", async () => {
    const dir = await tempDir();
    const files = await sampleInputs(dir);
    const one = path.join(dir, "one.jsonl");
    expect((await capture(["dedup", ...files, "-o", one, "--field", "question", "--threads", "0"])).code).toBe(0);
    const work = path.join(dir, "work");
    const p = await capture(["dedup", "plan", ...files, "--shards", "3", "--out", work, "--field", "question"]);
    expect(p.code).toBe(0);
    expect(p.stderr).toContain("tasks: sign 3, bucket 18, cluster 1, filter 3");
    const plan = JSON.parse(await readFile(path.join(work, "plan.json"), "utf8")) as { tasks: Record<string, number> };
    for (const stage of ["sign", "bucket", "cluster", "filter"]) {
      for (let t = 0; t < plan.tasks[stage]!; t++) expect((await capture(["dedup", "run-stage", stage, "--shard", String(t), work])).code).toBe(0);
    }
    const again = await capture(["dedup", "run-stage", "sign", "--shard", "0", work]);
    expect(again.stderr).toContain("already done");
    const st = await capture(["dedup", "status", work, "--json", "--write-report"]);
    expect(JSON.parse(st.stdout.trim())).toMatchObject({ complete: true });
    const report = JSON.parse(await readFile(path.join(work, "report.json"), "utf8"));
    const kept = (await Promise.all(report.kept.map((f: string) => readFile(f, "utf8")))).join("");
    expect(kept).toBe(await readFile(one, "utf8"));
    expect(report.counts.removed).toBeGreaterThanOrEqual(40);
  }, 60_000);

  it("local executor: a killed task leaves no marker, the rerun runs only unfinished tasks, same result", async () => {
    const dir = await tempDir();
    const files = await sampleInputs(dir);
    const expected = await oneMachine(files, dir, { bands: 4, rows: 3 });
    const work = path.join(dir, "work");
    expect((await capture(["dedup", "plan", ...files, "--shards", "3", "--out", work, "--field", "question", "--bands", "4", "--rows", "3", "--run-docs", "2"])).code).toBe(0);
    const ran = path.join(dir, "ran.log");
    // sign task 1 is SIGKILLed once it has written its first sorted run (mid-stage: the doc index and later runs not yet)
    const firstRun = path.join(work, "sign", "band-000", "shard-00001-run-0000.parquet");
    const killer = path.join(dir, "killer.sh");
    await writeFile(
      killer,
      [
        "#!/bin/bash",
        `echo "$3:$SLURM_ARRAY_TASK_ID" >> ${q(ran)}`,
        `if [ "$3" = run-stage ] && [ "$4" = sign ] && [ "$SLURM_ARRAY_TASK_ID" = 1 ] && [ ! -e ${q(dir)}/killed ]; then`,
        `  ${SFMED} "$@" & pid=$!`,
        `  while [ ! -e ${q(firstRun)} ]; do sleep 0.01; done`,
        `  kill -9 $pid; touch ${q(dir)}/killed; wait $pid; exit $?`,
        "fi",
        `exec ${SFMED} "$@"`,
      ].join("\n") + "\n",
    );
    const first = await capture(["dedup", "run", work, "--workers", "1", "--sfmed", `bash ${q(killer)}`]);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/sign: task 1 \(exit 137\) failed/);
    // what the killed task left under final names is whole Parquet files; a half-written one can only be a hidden temp
    for (const f of await readdir(path.join(work, "sign"), { recursive: true })) {
      const name = path.basename(f);
      if (name.startsWith(".") || !name.endsWith(".parquet")) continue;
      const bytes = await readFile(path.join(work, "sign", f));
      expect([bytes.subarray(0, 4).toString(), bytes.subarray(-4).toString()]).toEqual(["PAR1", "PAR1"]);
    }
    expect(await readdir(path.join(work, "markers", "sign"))).toEqual(["00000.json"]);
    await writeFile(ran, "");
    const out = path.join(dir, "kept.jsonl");
    const second = await capture(["dedup", "run", work, "--workers", "2", "--sfmed", `bash ${q(killer)}`, "-o", out]);
    expect(second.code).toBe(0);
    const tasks = (await readFile(ran, "utf8")).trim().split("\n").sort();
    // sign 0 was done: only 1 and 2 ran again, then every task of the later stages
    expect(tasks.filter((t) => t.startsWith("run-stage:")).length).toBe(2 + 4 + 1 + 3);
    expect(await readFile(out, "utf8")).toBe(expected);
    // the rerun swept the killed task's temp files
    expect((await readdir(work, { recursive: true })).filter((f) => path.basename(f).startsWith("."))).toEqual([]);
  }, 120_000);

  it("slurm executor: scripts pass bash -n with a hostile workdir, --submit chains afterok through sbatch and completes the run", async () => {
    const dir = await tempDir();
    const files = await sampleInputs(dir);
    const expected = await oneMachine(files, dir, { bands: 2, rows: 3 });
    const work = path.join(dir, "w o'r\"k $HOME `id`");
    expect((await capture(["dedup", "plan", ...files, "--shards", "2", "--out", work, "--field", "question", "--bands", "2", "--rows", "3"])).code).toBe(0);
    const dry = await capture(["dedup", "run", work, "--executor", "slurm", "--dry-run", "--partition", "cpu", "--time", "01:00:00", "--account", "med", "--max-concurrent", "8", "--setup", "true", "--sfmed", SFMED]);
    expect(dry.code).toBe(0);
    const scripts = dry.stdout.split(/^# (?=\/)/m).filter(Boolean);
    expect(scripts.length).toBe(6); // four stages, the report step, submit.sh
    for (const s of scripts) {
      const body = s.slice(s.indexOf("\n") + 1);
      const f = path.join(dir, "check.sh");
      await writeFile(f, body);
      execFileSync("bash", ["-n", f]);
    }
    expect(dry.stdout).toContain("#SBATCH --array=0-1%8");
    expect(dry.stdout).toContain("#SBATCH --partition=cpu");
    expect(dry.stdout).toContain("#SBATCH --account=med");
    await expect(readdir(path.join(work, "slurm"))).rejects.toThrow(); // dry run writes nothing
    const { env, log } = await fakeSbatch(dir);
    const sub = await withEnv(env, () => capture(["dedup", "run", work, "--executor", "slurm", "--submit", "--sfmed", SFMED]));
    expect(sub.code).toBe(0);
    expect(sub.stdout).toBe("sign\t2001\nbucket\t2002\ncluster\t2003\nfilter\t2004\nreport\t2005\n");
    const calls = (await readFile(log, "utf8")).trim().split("\n");
    expect(calls[1]).toContain("--dependency=afterok:2001");
    expect(calls[4]).toContain("--dependency=afterok:2004");
    const report = JSON.parse(await readFile(path.join(work, "report.json"), "utf8"));
    const kept = (await Promise.all(report.kept.map((f: string) => readFile(f, "utf8")))).join("");
    expect(kept).toBe(expected);
  }, 120_000);

  it("usage errors exit 2", async () => {
    const dir = await tempDir();
    const [a] = await sampleInputs(dir);
    const work = path.join(dir, "w");
    expect((await capture(["dedup", "plan", a!, "--shards", "0", "--out", work])).code).toBe(2);
    expect((await capture(["dedup", "plan", a!, "--shards", "2", "--out", work, "--per-source"])).code).toBe(2);
    expect((await capture(["dedup", "plan", path.join(dir, "missing.jsonl"), "--shards", "2", "--out", work])).code).toBe(2);
    expect((await capture(["dedup", "run-stage", "sign", "--shard", "0", work])).code).toBe(2); // no plan yet
    // flags the one-machine command shares (parsed by it wherever they stand) reach the plan
    expect((await capture(["dedup", "plan", a!, "--shards", "2", "--out", work, "--threshold", "0.5", "--keep", "longest", "--num-perm", "64", "--sketch", "minhash"])).code).toBe(0);
    expect(JSON.parse(await readFile(path.join(work, "plan.json"), "utf8")).params).toMatchObject({ threshold: 0.5, keep: "longest", numPerm: 64, sketch: "minhash" });
    expect((await capture(["dedup", "plan", a!, "--shards", "2", "--out", path.join(dir, "w2"), "--sketch", "bbit"])).code).toBe(2);
    expect((await capture(["dedup", "run-stage", "merge", "--shard", "0", work])).code).toBe(2);
    expect((await capture(["dedup", "run-stage", "sign", "--shard", "2", work])).code).toBe(2);
    expect((await capture(["dedup", "run", work, "--executor", "k8s"])).code).toBe(2);
    expect((await capture(["dedup", "run", work, "--submit"])).code).toBe(2);
    expect((await capture(["dedup", "run", path.join(dir, "a\nb"), "--executor", "slurm"])).code).toBe(2);
    // the one-machine command is unchanged: -o is still required there
    const r = await capture(["dedup", a!]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '-o, --output <file>' not specified");
  });
});
