/**
 * `sfmed dedup plan | run-stage | run | status`: dedup beyond one machine, as four sharded stages over files in a
 * work directory (library `@sfmed/dedup/sharded`), executed as job arrays on this machine or on Slurm
 * (`@sfmed/train-runner`'s job arrays). Libraries load only when a subcommand runs.
 */
import { availableParallelism } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, intFlag, numberFlag } from "../flags.js";
import type { Register } from "./index.js";

const STAGE_NAMES = ["sign", "bucket", "cluster", "filter"] as const;

interface PlanFlags {
  shards: string;
  out: string;
  threshold: string;
  numPerm: string;
  ngram: string;
  seed: string;
  bands?: string;
  rows?: string;
  verify: string;
  keep: string;
  field?: string;
  idField: string;
  sourceField: string;
  hashRanges: string;
  runDocs: string;
}

interface RunFlags {
  executor: string;
  workers?: string;
  submit?: boolean;
  dryRun?: boolean;
  output?: string;
  removed?: string;
  sfmed?: string;
  partition?: string;
  time?: string;
  account?: string;
  cpusPerTask?: string;
  mem?: string;
  maxConcurrent?: string;
  setup: string[];
  jobName: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** Flags of the one-machine command that mean nothing to the sharded subcommands. */
const ONE_MACHINE_ONLY: Record<string, string> = { perSource: "--per-source", threads: "--threads", index: "--index", against: "--against", clusters: "--clusters" };

/**
 * A subcommand's flags. The parent `dedup` command parses the flags it shares with a subcommand (--threshold, -o,
 * …) itself, wherever they stand, so they are read from both; one-machine-only flags are refused.
 */
function flags<T>(cmd: Command): T {
  const o = cmd.optsWithGlobals();
  for (const [k, flag] of Object.entries(ONE_MACHINE_ONLY)) if (o[k] !== undefined) throw new UsageError(`${flag} is not available in sharded runs (sfmed dedup ${cmd.name()})`);
  return o as T;
}

/** The shell words that start this same sfmed (node, its flags, this bin script), for the tasks to run. */
async function selfCommand(): Promise<string> {
  const { shellQuote } = await import("@sfmed/train-runner");
  return [process.execPath, ...process.execArgv, process.argv[1] ?? "sfmed"].map(shellQuote).join(" ");
}

/** The command of one stage's array task. */
async function taskCommand(sfmed: string, stage: string, workdir: string): Promise<string> {
  const { shellQuote } = await import("@sfmed/train-runner");
  return `${sfmed} --quiet dedup run-stage ${stage} --shard "$SLURM_ARRAY_TASK_ID" ${shellQuote(path.resolve(workdir))}`;
}

function refuseNewline(what: string, p: string): void {
  // a path on its own line of a script must stay one line
  if (/[\n\r]/.test(p)) throw new UsageError(`${what} must not contain a line break: ${JSON.stringify(p)}`);
}

async function planAction(inputs: string[], o: PlanFlags, c: CliContext): Promise<void> {
  const shards = intFlag("--shards", o.shards, { min: 1, max: 1 << 20 });
  const threshold = numberFlag("--threshold", o.threshold, { min: 0, minExclusive: true, max: 1 });
  const numPerm = intFlag("--num-perm", o.numPerm, { min: 1, max: 8192 });
  const ngram = intFlag("--ngram", o.ngram, { min: 1, max: 1024 });
  const seed = intFlag("--seed", o.seed, { min: 0 });
  const bands = intFlag("--bands", o.bands, { min: 1, max: 8192 });
  const rows = intFlag("--rows", o.rows, { min: 1, max: 8192 });
  if ((bands === undefined) !== (rows === undefined)) throw new UsageError("--bands and --rows go together");
  const verify = enumFlag("--verify", o.verify, ["exact", "none"] as const);
  const keep = enumFlag("--keep", o.keep, ["first", "longest"] as const);
  const hashRanges = intFlag("--hash-ranges", o.hashRanges, { min: 1, max: 65536 });
  const runDocs = intFlag("--run-docs", o.runDocs, { min: 1, max: 1 << 26 });
  refuseNewline("--out", o.out);
  const { requireFile } = await import("./io-helpers.js");
  for (const f of inputs) {
    refuseNewline("<in>", f);
    await requireFile("<in>", f);
  }
  const { planShards } = await import("@sfmed/dedup/sharded");
  const plan = await planShards(inputs, o.out, {
    shards,
    threshold,
    numPerm,
    ngram,
    seed,
    ...(bands !== undefined ? { bands, rows } : {}),
    verify,
    keep,
    ...(o.field ? { field: o.field } : {}),
    idField: o.idField,
    sourceField: o.sourceField,
    hashRanges,
    runDocs,
  });
  const t = plan.tasks;
  c.info(
    `dedup plan: ${plan.inputs.length} input(s), ${plan.inputs.reduce((s, f) => s + f.size, 0)} bytes in ${shards} shards; ` +
      `tasks: sign ${t.sign}, bucket ${t.bucket}, cluster ${t.cluster}, filter ${t.filter} [${plan.params.bands}×${plan.params.rows} bands] → ${o.out}`,
  );
}

async function runStageAction(stage: string, workdir: string, o: { shard?: string; force?: boolean }, c: CliContext): Promise<void> {
  const st = enumFlag("STAGE", stage, STAGE_NAMES);
  // under Slurm or the local executor the index may come from the environment
  const raw = o.shard ?? process.env.SLURM_ARRAY_TASK_ID;
  if (raw === undefined) throw new UsageError("--shard is required (or SLURM_ARRAY_TASK_ID)");
  const shard = intFlag("--shard", raw, { min: 0 });
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

/** Concatenate the kept (or removed) shards into one file, atomically. */
async function concatShards(files: string[], out: string): Promise<void> {
  const { atomicWrite } = await import("@sfmed/schema");
  const { createReadStream } = await import("node:fs");
  await atomicWrite(
    out,
    (async function* () {
      for (const f of files) for await (const chunk of createReadStream(f)) yield chunk as Buffer;
    })(),
    { gzip: false },
  );
}

async function runLocal(workdir: string, o: RunFlags, c: CliContext, sfmed: string): Promise<void> {
  const { pendingTasks, readPlan, STAGES, writeShardedReport } = await import("@sfmed/dedup/sharded");
  const { runArrayLocal } = await import("@sfmed/train-runner");
  const { createProgress } = await import("../progress.js");
  const workers = intFlag("--workers", o.workers, { min: 1, max: 4096 }) ?? availableParallelism();
  const plan = await readPlan(workdir);
  const t0 = performance.now();
  for (const stage of STAGES) {
    const only = await pendingTasks(workdir, plan, stage);
    if (!only.length) {
      c.info(`dedup ${stage}: all ${plan.tasks[stage]} tasks done already`);
      continue;
    }
    const bar = createProgress({ label: `dedup ${stage}`, total: only.length, unit: "task", quiet: c.quiet });
    const output = new Map<number, string>();
    let done = 0;
    try {
      await runArrayLocal(
        { name: stage, tasks: plan.tasks[stage], command: await taskCommand(sfmed, stage, workdir) },
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
  const report = await writeShardedReport(workdir);
  if (o.output) await concatShards(report.kept, o.output);
  if (o.removed) await concatShards(report.removed, o.removed);
  for (const w of report.warnings) c.stderr.write(`sfmed dedup: warning: ${w}\n`);
  const n = report.counts;
  c.info(
    `dedup: ${n.input} records → ${n.kept} kept, ${n.removed} removed in ${n.clusters} clusters ` +
      `[${report.params.shards} shards, ${workers} workers] in ${((performance.now() - t0) / 1000).toFixed(1)} s; report: ${path.join(workdir, "report.json")}`,
  );
}

async function runSlurm(workdir: string, o: RunFlags, c: CliContext, sfmed: string): Promise<void> {
  const { readPlan, STAGES } = await import("@sfmed/dedup/sharded");
  const { jobArrayScript, submitJobArrays, submitScript } = await import("@sfmed/train-runner");
  const { atomicWrite } = await import("@sfmed/schema");
  const { shellQuote } = await import("@sfmed/train-runner");
  const plan = await readPlan(workdir);
  const slurm = {
    jobName: o.jobName,
    ...(o.partition ? { partition: o.partition } : {}),
    ...(o.time ? { time: o.time } : {}),
    ...(o.account ? { account: o.account } : {}),
    ...(o.mem ? { mem: o.mem } : {}),
    ...(o.cpusPerTask ? { cpusPerTask: intFlag("--cpus-per-task", o.cpusPerTask, { min: 1, max: 4096 }) } : {}),
    ...(o.maxConcurrent ? { maxConcurrent: intFlag("--max-concurrent", o.maxConcurrent, { min: 1 }) } : {}),
    setup: o.setup,
  };
  const dir = path.resolve(workdir, "slurm");
  const logs = path.join(dir, "logs");
  const scripts: Array<{ name: string; path: string; text: string }> = [];
  for (const stage of STAGES) {
    const text = jobArrayScript({ name: stage, tasks: plan.tasks[stage], command: await taskCommand(sfmed, stage, workdir) }, slurm);
    scripts.push({ name: stage, path: path.join(dir, `${stage}.sbatch`), text });
  }
  // the report of a finished run: one more step after the filter stage
  const finish = `${sfmed} dedup status ${shellQuote(path.resolve(workdir))} --write-report`;
  scripts.push({ name: "report", path: path.join(dir, "report.sbatch"), text: jobArrayScript({ name: "report", tasks: 1, command: finish }, slurm) });
  const submit = submitScript(scripts, { logs });
  if (o.dryRun) {
    for (const s of scripts) c.stdout.write(`# ${s.path}\n${s.text}\n`);
    c.stdout.write(`# ${path.join(dir, "submit.sh")}\n${submit}`);
    return;
  }
  const { mkdir } = await import("node:fs/promises");
  await mkdir(logs, { recursive: true });
  for (const s of scripts) await atomicWrite(s.path, [s.text]);
  await atomicWrite(path.join(dir, "submit.sh"), [submit]);
  if (!o.submit) {
    c.info(`dedup: wrote ${scripts.length} sbatch scripts to ${dir}; submit them with: bash ${shellQuote(path.join(dir, "submit.sh"))} (or run again with --submit)`);
    return;
  }
  const ids = await submitJobArrays(scripts, { logs });
  for (const { name, jobId } of ids) c.stdout.write(`${name}\t${jobId}\n`);
  c.info(`dedup: submitted ${ids.length} job arrays chained with afterok; follow with: sfmed dedup status ${shellQuote(workdir)}`);
}

async function runAction(workdir: string, o: RunFlags, c: CliContext): Promise<void> {
  const executor = enumFlag("--executor", o.executor, ["local", "slurm"] as const);
  refuseNewline("WORKDIR", workdir);
  if (o.sfmed !== undefined) refuseNewline("--sfmed", o.sfmed);
  if (executor === "local" && (o.submit || o.dryRun)) throw new UsageError("--submit and --dry-run go with --executor slurm");
  if (executor === "slurm" && (o.output || o.removed)) throw new UsageError("-o/--removed go with --executor local (concatenate filter/kept-*.jsonl after the Slurm run)");
  if (o.submit && o.dryRun) throw new UsageError("--submit and --dry-run exclude each other");
  const sfmed = o.sfmed ?? (await selfCommand());
  if (executor === "local") await runLocal(workdir, o, c, sfmed);
  else await runSlurm(workdir, o, c, sfmed);
}

async function statusAction(workdir: string, o: { writeReport?: boolean; json?: boolean }, c: CliContext): Promise<void> {
  const { shardedStatus, writeShardedReport } = await import("@sfmed/dedup/sharded");
  const s = await shardedStatus(workdir);
  if (o.json) c.stdout.write(JSON.stringify({ complete: s.complete, stages: s.stages.map(({ stage, total, done, pending }) => ({ stage, total, done, pending })) }) + "\n");
  else {
    for (const st of s.stages) {
      const left = st.pending.length ? `  pending: ${st.pending.slice(0, 20).join(" ")}${st.pending.length > 20 ? " …" : ""}` : "";
      c.stdout.write(`${st.stage.padEnd(8)} ${st.done}/${st.total}${left}\n`);
    }
  }
  if (o.writeReport) {
    if (!s.complete) throw new UsageError("--write-report needs a finished run");
    const r = await writeShardedReport(workdir);
    c.info(`dedup: ${r.counts.input} records → ${r.counts.kept} kept, ${r.counts.removed} removed; report: ${path.join(workdir, "report.json")}`);
  }
}

/** Adds `plan`, `run-stage`, `run` and `status` under the one-machine `dedup` command (registered before). */
export const register: Register = (program, ctx) => {
  const dedup = program.commands.find((cmd) => cmd.name() === "dedup") as Command | undefined;
  if (!dedup) throw new Error("the dedup command must be registered first");
  // options after a subcommand name belong to the subcommand (dedup's own flags share names with plan's)
  dedup.enablePositionalOptions();
  // commander checks a parent's required options for its subcommands too: -o is required by dedup's own action only
  const output = dedup.options.find((opt) => opt.long === "--output");
  if (output?.mandatory) {
    output.mandatory = false;
    dedup.hook("preAction", (_self, action) => {
      if (action === dedup && dedup.getOptionValue("output") === undefined) (dedup as unknown as { missingMandatoryOptionValue(o: unknown): never }).missingMandatoryOptionValue(output);
    });
  }
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
    .option("--bands <n>", "LSH bands (with --rows; default: chosen for recall at the threshold)")
    .option("--rows <n>", "rows per band (with --bands)")
    .option("--verify <mode>", "confirm candidates: exact | none", "exact")
    .option("--keep <policy>", "survivor of a cluster: first | longest", "first")
    .option("--field <name>", "field to compare (default: text, else dialogue messages)")
    .option("--id-field <name>", "record id field", "id")
    .option("--source-field <name>", "source field (default source: the input file name)", "source")
    .option("--hash-ranges <n>", "bucket tasks per band (each a slice of the hash range)", "1")
    .option("--run-docs <n>", "documents per sorted run of the sign stage (bounds its memory)", "262144")
    .action((inputs: string[], _o: unknown, cmd: Command) => planAction(inputs, flags<PlanFlags>(cmd), ctx()));
  dedup
    .command("run-stage")
    .description("sharded dedup: run one task of a stage (skipped when already done)")
    .argument("<stage>", "sign | bucket | cluster | filter")
    .argument("<workdir>", "work directory made by `sfmed dedup plan`")
    .option("--shard <i>", "task index (default: $SLURM_ARRAY_TASK_ID)")
    .option("--force", "run even when the task's marker says it is done")
    .action((stage: string, workdir: string, _o: unknown, cmd: Command) => runStageAction(stage, workdir, flags(cmd), ctx()));
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
    .action((workdir: string, _o: unknown, cmd: Command) => runAction(workdir, flags<RunFlags>(cmd), ctx()));
  dedup
    .command("status")
    .description("sharded dedup: tasks done and pending per stage")
    .argument("<workdir>", "work directory made by `sfmed dedup plan`")
    .option("--json", "one JSON line")
    .option("--write-report", "write WORKDIR/report.json (the run must be finished)")
    .action((workdir: string, _o: unknown, cmd: Command) => statusAction(workdir, flags(cmd), ctx()));
};
