// `sfmed dedup run` and `status`: the stages as job arrays on this machine (with progress) or as Slurm scripts,
// and the status table. The stage logic is `@sfmed/dedup/sharded`; the executors are `@sfmed/train-runner`'s.
import { availableParallelism } from "node:os";
import path from "node:path";
import type { Stage } from "@sfmed/dedup/sharded";
import type { CliContext } from "../context.js";
import { intFlag } from "../flags.js";
import { slurmOptions, type RunFlags } from "./dedup-sharded-flags.js";

/** The shell words that start this same sfmed (node, its flags, this bin script), for the tasks to run. */
export async function selfCommand(): Promise<string> {
  const { shellQuote } = await import("@sfmed/train-runner");
  return [process.execPath, ...process.execArgv, process.argv[1] ?? "sfmed"].map(shellQuote).join(" ");
}

/** The command of one stage's array task. */
async function taskCommand(sfmed: string, stage: string, workdir: string): Promise<string> {
  const { shellQuote } = await import("@sfmed/train-runner");
  return `${sfmed} --quiet dedup run-stage ${stage} --shard "$SLURM_ARRAY_TASK_ID" ${shellQuote(path.resolve(workdir))}`;
}

/** Run a stage's unfinished tasks here with a progress bar; a failed run prints the failed tasks' last output. */
async function runStageHere(workdir: string, stage: Stage, tasks: number, only: number[], workers: number, sfmed: string, c: CliContext): Promise<void> {
  const { runArrayLocal } = await import("@sfmed/train-runner");
  const { createProgress } = await import("../progress.js");
  const bar = createProgress({ label: `dedup ${stage}`, total: only.length, unit: "task", quiet: c.quiet });
  const output = new Map<number, string>();
  let done = 0;
  try {
    await runArrayLocal(
      { name: stage, tasks, command: await taskCommand(sfmed, stage, workdir) },
      {
        concurrency: workers,
        only,
        onOutput: (t, s) => output.set(t, ((output.get(t) ?? "") + s).slice(-4000)),
        onTaskDone: () => bar.update(++done),
      },
    );
  } catch (err) {
    bar.stop();
    for (const [t, text] of output) if (text.includes("sfmed:") || text.includes("Error")) c.stderr.write(`--- ${stage} task ${t}:\n${text.trimEnd()}\n`);
    throw err;
  }
  bar.stop();
}

/** Every unfinished task, stage after stage, on this machine; then the report and the concatenated outputs. */
export async function runLocal(workdir: string, o: RunFlags, c: CliContext, sfmed: string): Promise<void> {
  const { concatShardFiles, pendingTasks, readPlan, STAGES, writeShardedReport } = await import("@sfmed/dedup/sharded");
  const workers = intFlag("--workers", o.workers, { min: 1, max: 4096 }) ?? availableParallelism();
  const plan = await readPlan(workdir);
  const t0 = performance.now();
  for (const stage of STAGES) {
    const only = await pendingTasks(workdir, plan, stage);
    if (only.length) await runStageHere(workdir, stage, plan.tasks[stage], only, workers, sfmed, c);
    else c.info(`dedup ${stage}: all ${plan.tasks[stage]} tasks done already`);
  }
  const report = await writeShardedReport(workdir);
  if (o.output) await concatShardFiles(report.kept, o.output);
  if (o.removed) await concatShardFiles(report.removed, o.removed);
  for (const w of report.warnings) c.stderr.write(`sfmed dedup: warning: ${w}\n`);
  const n = report.counts;
  c.info(
    `dedup: ${n.input} records → ${n.kept} kept, ${n.removed} removed in ${n.clusters} clusters ` +
      `[${report.params.shards} shards, ${workers} workers] in ${((performance.now() - t0) / 1000).toFixed(1)} s; report: ${path.join(workdir, "report.json")}`,
  );
}

/** One sbatch script per stage plus a report step, written to WORKDIR/slurm (or printed), submitted when asked. */
export async function runSlurm(workdir: string, o: RunFlags, c: CliContext, sfmed: string): Promise<void> {
  const { readPlan, STAGES } = await import("@sfmed/dedup/sharded");
  const { shellQuote, stageScripts, submitJobArrays, writeStageScripts } = await import("@sfmed/train-runner");
  const plan = await readPlan(workdir);
  const jobs = [];
  for (const stage of STAGES) jobs.push({ name: stage, tasks: plan.tasks[stage], command: await taskCommand(sfmed, stage, workdir) });
  // the report of a finished run: one more step after the filter stage
  jobs.push({ name: "report", tasks: 1, command: `${sfmed} dedup status ${shellQuote(path.resolve(workdir))} --write-report` });
  const dir = path.resolve(workdir, "slurm");
  const s = stageScripts(jobs, slurmOptions(o), dir);
  if (o.dryRun) {
    for (const f of [...s.scripts, s.submit]) c.stdout.write(`# ${f.path}\n${f.text}${f === s.submit ? "" : "\n"}`);
    return;
  }
  await writeStageScripts(s);
  if (!o.submit) {
    c.info(`dedup: wrote ${s.scripts.length} sbatch scripts to ${dir}; submit them with: bash ${shellQuote(s.submit.path)} (or run again with --submit)`);
    return;
  }
  const ids = await submitJobArrays(s.scripts, { logs: s.logs });
  for (const { name, jobId } of ids) c.stdout.write(`${name}\t${jobId}\n`);
  c.info(`dedup: submitted ${ids.length} job arrays chained with afterok; follow with: sfmed dedup status ${shellQuote(workdir)}`);
}

/** The status table (or one JSON line), and the report of a finished run when asked. */
export async function printStatus(workdir: string, o: { writeReport?: boolean; json?: boolean }, c: CliContext): Promise<boolean> {
  const { shardedStatus } = await import("@sfmed/dedup/sharded");
  const s = await shardedStatus(workdir);
  if (o.json) c.stdout.write(JSON.stringify({ complete: s.complete, stages: s.stages.map(({ stage, total, done, pending }) => ({ stage, total, done, pending })) }) + "\n");
  else {
    for (const st of s.stages) {
      const left = st.pending.length ? `  pending: ${st.pending.slice(0, 20).join(" ")}${st.pending.length > 20 ? " …" : ""}` : "";
      c.stdout.write(`${st.stage.padEnd(8)} ${st.done}/${st.total}${left}\n`);
    }
  }
  return s.complete;
}
