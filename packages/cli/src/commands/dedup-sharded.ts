/**
 * `sfmed dedup plan | run-stage | run | status`: dedup beyond one machine, as four sharded stages over files in a
 * work directory (library `@sfmed/dedup/sharded`), executed as job arrays on this machine or on Slurm
 * (`@sfmed/train-runner`'s job arrays). Libraries load only when a subcommand runs.
 */
import path from "node:path";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { checkPlanPaths, collect, planOptions, requireOutputOnlyForDedup, runExecutor, stageTask, subcommandFlags, type PlanFlags, type RunFlags } from "./dedup-sharded-flags.js";
import type { Register } from "./index.js";

async function planAction(inputs: string[], o: PlanFlags, c: CliContext): Promise<void> {
  const options = planOptions(o);
  await checkPlanPaths(inputs, o.out);
  const { planShards } = await import("@sfmed/dedup/sharded");
  const plan = await planShards(inputs, o.out, options);
  const t = plan.tasks;
  c.info(
    `dedup plan: ${plan.inputs.length} input(s), ${plan.inputs.reduce((s, f) => s + f.size, 0)} bytes in ${options.shards} shards; ` +
      `tasks: sign ${t.sign}, bucket ${t.bucket}, cluster ${t.cluster}, filter ${t.filter} [${plan.params.bands}×${plan.params.rows} bands] → ${o.out}`,
  );
}

async function runStageAction(stage: string, workdir: string, o: { shard?: string; force?: boolean }, c: CliContext): Promise<void> {
  const { stage: st, shard } = stageTask(stage, o.shard);
  const { runStage } = await import("@sfmed/dedup/sharded");
  const { DedupError } = await import("@sfmed/dedup");
  try {
    const r = await runStage(workdir, st, shard, { force: Boolean(o.force) });
    const m = r.marker;
    c.info(`dedup ${st} ${shard}: ${r.skipped ? "already done" : `done in ${m.seconds.toFixed(1)} s, peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MB`} ${JSON.stringify(m.stats)}`);
  } catch (err) {
    if (err instanceof DedupError && (err.code === "BAD_TASK" || err.code === "NO_PLAN")) throw new UsageError(err.message);
    throw err;
  }
}

async function runAction(workdir: string, o: RunFlags, c: CliContext): Promise<void> {
  const executor = runExecutor(workdir, o);
  const { runLocal, runSlurm, selfCommand } = await import("./dedup-sharded-run.js");
  const sfmed = o.sfmed ?? (await selfCommand());
  if (executor === "local") await runLocal(workdir, o, c, sfmed);
  else await runSlurm(workdir, o, c, sfmed);
}

async function statusAction(workdir: string, o: { writeReport?: boolean; json?: boolean }, c: CliContext): Promise<void> {
  const { printStatus } = await import("./dedup-sharded-run.js");
  const complete = await printStatus(workdir, o, c);
  if (!o.writeReport) return;
  if (!complete) throw new UsageError("--write-report needs a finished run");
  const { writeShardedReport } = await import("@sfmed/dedup/sharded");
  const r = await writeShardedReport(workdir);
  c.info(`dedup: ${r.counts.input} records → ${r.counts.kept} kept, ${r.counts.removed} removed; report: ${path.join(workdir, "report.json")}`);
}

/** Adds `plan`, `run-stage`, `run` and `status` under the one-machine `dedup` command (registered before). */
export const register: Register = (program, ctx) => {
  const dedup = program.commands.find((cmd) => cmd.name() === "dedup") as Command | undefined;
  if (!dedup) throw new Error("the dedup command must be registered first");
  // options after a subcommand name belong to the subcommand (dedup's own flags share names with plan's)
  dedup.enablePositionalOptions();
  requireOutputOnlyForDedup(dedup);
  dedup
    .command("plan")
    .description("sharded dedup, step 1: cut UTF-8 JSONL inputs into shards and fix the parameters in WORKDIR/plan.json")
    .argument("<in...>", "input files (UTF-8 JSONL, not gzipped), read in order")
    .requiredOption("--shards <n>", "input shards (tasks of the sign and filter stages)")
    .requiredOption("--out <workdir>", "work directory (on a file system every task sees)")
    .option("--threshold <t>", "Jaccard similarity of shingle sets that counts as duplicate", "0.8")
    .option("--num-perm <n>", "MinHash permutations", "128")
    .option("--ngram <n>", "shingle length in characters", "5")
    .option("--seed <n>", "seed of the MinHash permutations", "1")
    .option("--sketch <kind>", "signature sketch: oph (one-permutation hashing, densified; faster) | minhash (the paper's k permutations)", "oph")
    .option("--bands <n>", "LSH bands (with --rows; default: chosen for recall at the threshold)")
    .option("--rows <n>", "rows per band (with --bands)")
    .option("--verify <mode>", "confirm candidates: exact | none", "exact")
    .option("--keep <policy>", "survivor of a cluster: first | longest", "first")
    .option("--field <name>", "field to compare (default: text, else dialogue messages)")
    .option("--id-field <name>", "record id field", "id")
    .option("--source-field <name>", "source field (default source: the input file name)", "source")
    .option("--hash-ranges <n>", "bucket tasks per band (each a slice of the hash range)", "1")
    .option("--run-docs <n>", "documents per sorted run of the sign stage (bounds its memory)", "262144")
    .action((inputs: string[], _o: unknown, cmd: Command) => planAction(inputs, subcommandFlags<PlanFlags>(cmd), ctx()));
  dedup
    .command("run-stage")
    .description("sharded dedup: run one task of a stage (skipped when already done)")
    .argument("<stage>", "sign | bucket | cluster | filter")
    .argument("<workdir>", "work directory made by `sfmed dedup plan`")
    .option("--shard <i>", "task index (default: $SLURM_ARRAY_TASK_ID)")
    .option("--force", "run even when the task's marker says it is done")
    .action((stage: string, workdir: string, _o: unknown, cmd: Command) => runStageAction(stage, workdir, subcommandFlags(cmd), ctx()));
  dedup
    .command("run")
    .description("sharded dedup: run every unfinished task, stage after stage, locally or as Slurm job arrays")
    .argument("<workdir>", "work directory made by `sfmed dedup plan`")
    .option("--executor <kind>", "local | slurm", "local")
    .option("--workers <n>", "local: tasks at once (default: all cores)")
    .option("-o, --output <file>", "local: the kept records, concatenated in input order")
    .option("--removed <file>", "local: the removed records")
    .option("--dry-run", "slurm: print the sbatch scripts and the submit script, write nothing")
    .option("--submit", "slurm: submit the job arrays with sbatch (else only write them)")
    .option("--partition <name>", "slurm partition")
    .option("--time <hh:mm:ss>", "slurm time limit per task")
    .option("--account <name>", "slurm account")
    .option("--cpus-per-task <n>", "slurm CPUs per task")
    .option("--mem <size>", "slurm memory per task, e.g. 2G")
    .option("--max-concurrent <n>", "slurm: at most this many tasks of a stage at once (--array=…%n)")
    .option("--setup <line>", "slurm: a shell line run before each task (repeatable)", collect, [])
    .option("--job-name <name>", "slurm job name prefix", "sfmed-dedup")
    .option("--sfmed <command>", "how a task starts sfmed (default: this node and this sfmed)")
    .action((workdir: string, _o: unknown, cmd: Command) => runAction(workdir, subcommandFlags<RunFlags>(cmd), ctx()));
  dedup
    .command("status")
    .description("sharded dedup: tasks done and pending per stage")
    .argument("<workdir>", "work directory made by `sfmed dedup plan`")
    .option("--json", "one JSON line")
    .option("--write-report", "write WORKDIR/report.json (the run must be finished)")
    .action((workdir: string, _o: unknown, cmd: Command) => statusAction(workdir, subcommandFlags(cmd), ctx()));
};
