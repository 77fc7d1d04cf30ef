import { execFileSync } from "node:child_process";
import { chmod, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { arraySpec, jobArrayScript, parseJobId, runArrayLocal, stageScripts, submitJobArrays, submitScript, writeStageScripts, type ArrayJob } from "./job-array.js";
import { shellQuote } from "./launchers.js";

const HOSTILE = ["with space", "it's", 'dq"x', "$HOME", "`id`", "a\nb", "semi;colon", "*glob?"];

/** A fake sbatch: logs its arguments, runs every array task of the script in turn, prints a job id. */
async function fakeSbatch(dir: string): Promise<{ bin: string; log: string }> {
  const bin = path.join(dir, "bin");
  await mkdir(bin, { recursive: true });
  const log = path.join(dir, "sbatch.log");
  await writeFile(
    path.join(bin, "sbatch"),
    [
      "#!/bin/bash",
      'echo "$*" >> "$FAKE_SBATCH_LOG"',
      'script="${@: -1}"',
      'id=$((1000 + $(wc -l < "$FAKE_SBATCH_LOG")))',
      "last=$(sed -n 's/^#SBATCH --array=0-\\([0-9]*\\).*/\\1/p' \"$script\")",
      'for i in $(seq 0 "$last"); do SLURM_ARRAY_TASK_ID=$i bash "$script" >&2 || exit 1; done',
      'echo "$id"',
      "",
    ].join("\n"),
  );
  await chmod(path.join(bin, "sbatch"), 0o755);
  return { bin, log };
}

describe("job arrays", () => {
  it("writes sbatch scripts that pass bash -n and keep hostile paths intact", async () => {
    const dir = await tempDir();
    for (const name of HOSTILE) {
      const target = path.join(dir, name);
      const job: ArrayJob = { name: "sign", tasks: 3, command: `printf '%s' ${shellQuote(target)} > ${shellQuote(target)}.$SLURM_ARRAY_TASK_ID` };
      const script = jobArrayScript(job, { partition: "cpu", time: "01:00:00", account: "med", maxConcurrent: 2, setup: ["module load nodejs"] });
      expect(script).toContain("#SBATCH --array=0-2%2");
      expect(script).toContain("#SBATCH --partition=cpu");
      const file = path.join(dir, "s.sbatch");
      await writeFile(file, script);
      execFileSync("bash", ["-n", file]);
      // run it the way a task would (setup line dropped: no modules here)
      execFileSync("bash", ["-c", job.command], { env: { ...process.env, SLURM_ARRAY_TASK_ID: "1" } });
      expect(await readFile(`${target}.1`, "utf8")).toBe(target);
    }
  });

  it("refuses directive values that would need quoting and bad sizes", () => {
    const job: ArrayJob = { name: "x", tasks: 2, command: "true" };
    expect(() => jobArrayScript(job, { partition: "a b" })).toThrow(/partition/);
    expect(() => jobArrayScript(job, { account: "a\n#SBATCH --x" })).toThrow(/account/);
    expect(() => jobArrayScript({ ...job, name: "a b" })).toThrow(/job name/);
    expect(() => jobArrayScript({ ...job, tasks: 0 })).toThrow(/tasks/);
    expect(arraySpec(16)).toBe("0-15");
    expect(arraySpec(16, 4)).toBe("0-15%4");
    expect(() => arraySpec(4, 0)).toThrow(/maxConcurrent/);
    expect(parseJobId("12345\n")).toBe("12345");
    expect(parseJobId("12345;cluster\n")).toBe("12345");
    expect(() => parseJobId("Submitted batch job 1")).toThrow(/no job id/);
  });

  it("submits stages chained with afterok through sbatch and the tasks all run", async () => {
    const dir = await tempDir();
    const { bin, log } = await fakeSbatch(dir);
    const out = path.join(dir, "out dir");
    await mkdir(out);
    const scripts: Array<{ name: string; path: string }> = [];
    for (const [name, tasks] of [["a", 3], ["b", 2], ["c", 1]] as const) {
      const p = path.join(dir, `${name}.sbatch`);
      await writeFile(p, jobArrayScript({ name, tasks, command: `touch ${shellQuote(out)}/${name}.$SLURM_ARRAY_TASK_ID` }));
      scripts.push({ name, path: p });
    }
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_SBATCH_LOG: log };
    const ids = await submitJobArrays(scripts, { env });
    expect(ids).toEqual([
      { name: "a", jobId: "1001" },
      { name: "b", jobId: "1002" },
      { name: "c", jobId: "1003" },
    ]);
    const calls = (await readFile(log, "utf8")).trim().split("\n");
    expect(calls[0]).toBe(`--parsable ${scripts[0]!.path}`);
    expect(calls[1]).toBe(`--parsable --dependency=afterok:1001 ${scripts[1]!.path}`);
    expect(calls[2]).toBe(`--parsable --dependency=afterok:1002 ${scripts[2]!.path}`);
    expect((await readdir(out)).sort()).toEqual(["a.0", "a.1", "a.2", "b.0", "b.1", "c.0"]);
    // the hand-run submit script chains the same way
    const sub = path.join(dir, "submit.sh");
    await writeFile(sub, submitScript(scripts));
    execFileSync("bash", ["-n", sub]);
    const printed = execFileSync("bash", [sub], { env, encoding: "utf8" });
    expect(printed).toBe("a: 1004\nb: 1005\nc: 1006\n");
    expect((await readFile(log, "utf8")).trim().split("\n")[4]).toBe(`--parsable --dependency=afterok:1004 ${scripts[1]!.path}`);
  });

  it("runs local tasks with SLURM_ARRAY_TASK_ID, a bounded number at once, and names failed tasks", async () => {
    const dir = await tempDir();
    const job: ArrayJob = { name: "t", tasks: 5, command: `echo "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" > ${shellQuote(dir)}/$SLURM_ARRAY_TASK_ID.out` };
    const done: number[] = [];
    await runArrayLocal(job, { concurrency: 2, onTaskDone: (t) => done.push(t) });
    expect(done.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(await readFile(path.join(dir, "3.out"), "utf8")).toBe("3/5\n");
    await runArrayLocal({ ...job, command: `echo again > ${shellQuote(dir)}/$SLURM_ARRAY_TASK_ID.out` }, { only: [1] });
    expect(await readFile(path.join(dir, "1.out"), "utf8")).toBe("again\n");
    expect(await readFile(path.join(dir, "2.out"), "utf8")).toBe("2/5\n");
    await expect(runArrayLocal({ name: "f", tasks: 3, command: '[ "$SLURM_ARRAY_TASK_ID" != 1 ] || exit 7' }, { concurrency: 1 })).rejects.toMatchObject({
      name: "JobArrayError",
      code: "TASK_FAILED",
      message: "f: task 1 (exit 7) failed",
    });
  });

  it("starts no task after a failure (the running ones finish) and stops on abort", async () => {
    const dir = await tempDir();
    const mark = `touch ${shellQuote(dir)}/$SLURM_ARRAY_TASK_ID.ran`;
    // task 0 fails at once while task 1 is still running: 1 finishes, 2 and 3 never start
    const job: ArrayJob = { name: "g", tasks: 4, command: `${mark}; [ "$SLURM_ARRAY_TASK_ID" != 0 ] || exit 3; sleep 0.3` };
    await expect(runArrayLocal(job, { concurrency: 2 })).rejects.toMatchObject({ code: "TASK_FAILED", message: "g: task 0 (exit 3) failed" });
    expect((await readdir(dir)).sort()).toEqual(["0.ran", "1.ran"]);
    const ac = new AbortController();
    ac.abort();
    await expect(runArrayLocal({ ...job, name: "a" }, { signal: ac.signal })).rejects.toMatchObject({ code: "TASK_FAILED", message: "a: aborted" });
  });

  it("writes the scripts of a chain of stages and the submit script, atomically", async () => {
    const dir = path.join(await tempDir(), "slurm dir");
    const jobs: ArrayJob[] = [
      { name: "one", tasks: 3, command: "echo 1" },
      { name: "two", tasks: 1, command: "echo 2" },
    ];
    const s = stageScripts(jobs, { jobName: "x", maxConcurrent: 2 }, dir);
    expect(s.scripts.map((f) => path.basename(f.path))).toEqual(["one.sbatch", "two.sbatch"]);
    expect(s.scripts[0]!.text).toBe(jobArrayScript(jobs[0]!, { jobName: "x", maxConcurrent: 2 }));
    expect(s.submit.text).toBe(submitScript(s.scripts, { logs: path.join(dir, "logs") }));
    await writeStageScripts(s);
    expect((await readdir(dir)).sort()).toEqual(["logs", "one.sbatch", "submit.sh", "two.sbatch"]);
    expect(await readFile(path.join(dir, "two.sbatch"), "utf8")).toContain("#SBATCH --array=0-0%2");
    execFileSync("bash", ["-n", path.join(dir, "submit.sh")]);
  });
});
