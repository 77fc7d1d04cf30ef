// `sfmed train slurm` and `sfmed train tiny`: a batch script for a cluster, a tiny checkpoint for CPU examples.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { atomicWrite } from "@sfmed/schema";
import { createTinyModel, loadJobFile, slurmScript, trainerPythonEnv } from "@sfmed/train-runner";
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { intFlag } from "../flags.js";
import { trainerEnv } from "./train-helpers.js";

type SlurmFlags = { config: string; nodes: string; gpusPerNode: string; output: string; python: string; time?: string; partition?: string; account?: string; setup?: string[] };

async function writeSlurm(c: CliContext, o: SlurmFlags): Promise<void> {
  const nnodes = intFlag("nodes", o.nodes, { min: 1 });
  const gpusPerNode = intFlag("gpus-per-node", o.gpusPerNode, { min: 1 });
  const job = await loadJobFile(o.config);
  await mkdir(job.output_dir, { recursive: true });
  const jobPath = path.join(job.output_dir, "job.json");
  // Plain text whatever the name (a user's --output ending in .gz is still a script).
  await atomicWrite(jobPath, [JSON.stringify(job, null, 2) + "\n"], { gzip: false });
  const { config: _c, nodes: _n, gpusPerNode: _g, output, ...rest } = o;
  const script = slurmScript({ ...rest, jobName: `sfmed-${job.stage}`, jobPath, nnodes, gpusPerNode, output: path.join(job.output_dir, "%x-%j.out") });
  await atomicWrite(output, [script], { gzip: false });
  c.info(`wrote ${output}; submit with: sbatch ${output}`);
}

export function registerTrainTools(train: Command, ctx: () => CliContext): void {
  train
    .command("slurm")
    .description("write an sbatch script that runs a job on several nodes (torchrun per node)")
    .requiredOption("-c, --config <file>", "job file")
    .requiredOption("--nodes <n>", "number of nodes")
    .requiredOption("--gpus-per-node <n>", "GPUs per node")
    .requiredOption("-o, --output <file>", "where to write the script")
    .option("--python <path>", "python of the trainer environment on the cluster", "python")
    .option("--time <hh:mm:ss>", "wall-time limit")
    .option("--partition <name>")
    .option("--account <name>")
    .option("--setup <line...>", "shell lines run first on every node (module load, venv activation)")
    .action((o: SlurmFlags) => writeSlurm(ctx(), o));

  train
    .command("tiny")
    .description("create a tiny Qwen2 checkpoint (tokenizer trained on your records, random weights) for CPU examples and tests")
    .requiredOption("-o, --output <dir>", "checkpoint folder")
    .requiredOption("--corpus <files...>", "JSONL/JSON record files whose text trains the tokenizer")
    .option("--vocab-size <n>", "BPE vocabulary size", "1024")
    .option("--hidden <n>", "hidden size", "64")
    .option("--layers <n>", "decoder layers", "2")
    .option("--seed <n>", "weight seed", "0")
    .option("--python <path>", "base Python for the trainer environment")
    .action(async (o: { output: string; corpus: string[]; vocabSize: string; hidden: string; layers: string; seed: string; python?: string }) => {
      const c = ctx();
      const sizes = { vocabSize: intFlag("vocab-size", o.vocabSize, { min: 1 }), hidden: intFlag("hidden", o.hidden, { min: 1 }), layers: intFlag("layers", o.layers, { min: 1 }) };
      const seed = intFlag("seed", o.seed, { min: 0 });
      const env = await trainerEnv(c, o.python);
      c.info(`tiny model → ${await createTinyModel(o.output, { python: env.python, env: trainerPythonEnv(env), corpus: o.corpus, ...sizes, seed })}`);
    });
}
