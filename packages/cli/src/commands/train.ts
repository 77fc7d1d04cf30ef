import path from "node:path";
import {
  DISTRIBUTED_STRATEGIES,
  findResumeCheckpoint,
  LAUNCHER_KINDS,
  loadJobFile,
  planLaunch,
  resolveJobPaths,
  resumeJob,
  runJob,
  trainerPythonEnv,
  validateJob,
  writeLaunchFiles,
  type TrainerJob,
} from "@sfmed/train-runner";
import type { Command } from "commander";
import { UsageError, type CliContext } from "../context.js";
import { enumFlag, intFlag } from "../flags.js";
import type { Register } from "./index.js";
import { applySets, hubModelOfJob, runStoppable, trainerEnv } from "./train-helpers.js";
import { registerTrainTools } from "./train-tools.js";

export { applySets, hubModelOfJob } from "./train-helpers.js";

interface LaunchFlags {
  launcher: string;
  nprocPerNode?: string;
  nnodes?: string;
  nodeRank?: string;
  masterAddr?: string;
  masterPort?: string;
  distributed?: string;
  json?: boolean;
  python?: string;
}

/** The launch plan of the flags (launch policy lives in train-runner's planLaunch); config files go to `dir`. */
function planFrom(o: LaunchFlags, dir: string) {
  return planLaunch({
    launcher: enumFlag("launcher", o.launcher, LAUNCHER_KINDS),
    nprocPerNode: intFlag("nproc-per-node", o.nprocPerNode ?? "1", { min: 1 }),
    nnodes: intFlag("nnodes", o.nnodes ?? "1", { min: 1 }),
    nodeRank: intFlag("node-rank", o.nodeRank, { min: 0 }),
    masterPort: intFlag("master-port", o.masterPort, { min: 1, max: 65535 }),
    distributed: enumFlag("distributed", o.distributed, DISTRIBUTED_STRATEGIES),
    ...(o.masterAddr ? { masterAddr: o.masterAddr } : {}),
    configDir: dir,
  });
}

function addLaunchFlags(cmd: Command): Command {
  return cmd
    .option("--launcher <kind>", "local | torchrun | accelerate", "local")
    .option("--nproc-per-node <n>", "processes (GPUs) per node")
    .option("--nnodes <n>", "number of nodes")
    .option("--node-rank <n>", "this node's rank")
    .option("--master-addr <host>", "rank 0's address")
    .option("--master-port <port>", "rank 0's port")
    .option("--distributed <strategy>", "fsdp | deepspeed-zero3 (runs as FSDP full sharding) | ddp; default with accelerate: fsdp")
    .option("--python <path>", "base Python for the trainer environment (default: SFMED_PYTHON, python3)")
    .option("--json", "print trainer events as JSON lines instead of a progress bar");
}

type StageFlags = LaunchFlags & { config: string; outputDir?: string; set?: string[]; resume?: boolean };

async function runStage(c: CliContext, stage: TrainerJob["stage"], o: StageFlags): Promise<void> {
  // Overrides given on the command line are relative to the working directory, not the job file.
  const sets = applySets(o.outputDir ? { output_dir: o.outputDir } : {}, o.set ?? []);
  const job = await loadJobFile(o.config, resolveJobPaths(sets as unknown as TrainerJob, process.cwd()) as unknown as Record<string, unknown>);
  if (job.stage !== stage) throw new UsageError(`${o.config} is a "${job.stage}" job; run it with: sfmed train ${job.stage}`);
  const plan = planFrom(o, job.output_dir);
  const env = await trainerEnv(c, o.python);
  if (plan.sharding) job.train = { ...job.train, sharding: plan.sharding };
  if (o.resume && !job.resume_from) {
    const from = await findResumeCheckpoint(job.output_dir, { onWarning: (m) => c.info(`warning: ${m}`) });
    if (from) (job.resume_from = from), c.info(`resuming from ${from}`);
  }
  // A Hub model id is fetched last, once the environment and flags are known to be usable.
  job.model = await hubModelOfJob(job.model, o.config, sets, c.quiet);
  await writeLaunchFiles(plan);
  const onWarning = (w: { message: string }) => c.stderr.write(`sfmed train: warning: ${w.message}\n`);
  await runStoppable(c, o.json, stage, (signal, onEvent) =>
    runJob(job, { python: env.python, env: trainerPythonEnv(env), launch: plan.launch, signal, onEvent, validate: (j) => validateJob(j), onWarning }),
  );
}

export const register: Register = (program, ctx) => {
  const train = program.command("train").description("train with trainer-py: pt | sft | rm | dpo, resume, slurm");
  for (const stage of ["pt", "sft", "rm", "dpo"] as const) {
    addLaunchFlags(
      train
        .command(stage)
        .description(`run a ${stage} job (YAML or JSON job file)`)
        .requiredOption("-c, --config <file>", "job file")
        .option("-o, --output-dir <dir>", "override the job's output_dir")
        .option("--set <key=value...>", "override job keys, e.g. --set model=runs/pt/model data.train=sft.jsonl train.max_steps=100")
        .option("--resume", "continue from the newest checkpoint in the output folder when it holds one (else start)"),
    ).action((o: StageFlags) => runStage(ctx(), stage, o));
  }

  addLaunchFlags(train.command("resume").description("continue an interrupted job from its output folder").argument("<dir>", "the job's output_dir")).action(async (dir: string, o: LaunchFlags) => {
    const c = ctx();
    const plan = planFrom(o, dir);
    const env = await trainerEnv(c, o.python);
    await writeLaunchFiles(plan);
    await runStoppable(c, o.json, "resume", (signal, onEvent) =>
      resumeJob(path.resolve(dir), { python: env.python, env: trainerPythonEnv(env), launch: plan.launch, signal, onEvent, onNotice: (m) => c.info(`warning: ${m}`) }),
    );
  });

  registerTrainTools(train, ctx);
};
