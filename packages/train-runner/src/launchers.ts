/**
 * Launch commands for the trainer: one process (`local`), many processes on one or more nodes (`torchrun`,
 * `accelerate`), and Slurm batch scripts. We build command lines; the schedulers do the scheduling.
 */
export const LAUNCHER_KINDS = ["local", "torchrun", "accelerate"] as const;
export type LauncherKind = (typeof LAUNCHER_KINDS)[number];
export const DISTRIBUTED_STRATEGIES = ["fsdp", "deepspeed-zero3", "ddp"] as const;
export type DistributedStrategy = (typeof DISTRIBUTED_STRATEGIES)[number];

export interface LaunchOptions {
  /** @default "local" */
  launcher?: LauncherKind;
  /** Python of the trainer environment. */
  python: string;
  /** Path of the job JSON the trainer runs. */
  jobPath: string;
  /** Processes (GPUs) per node. @default 1 */
  nprocPerNode?: number;
  /** @default 1 */
  nnodes?: number;
  /** @default 0 */
  nodeRank?: number;
  /** Address of rank 0's node. @default "127.0.0.1" */
  masterAddr?: string;
  /** @default 29500 */
  masterPort?: number;
  /** accelerate only: the config file written by {@link accelerateConfig}. */
  accelerateConfigPath?: string;
}

export interface LaunchCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

const TRAINER_ARGS = (jobPath: string) => ["-m", "sfmed_trainer", "run", jobPath];

/** The argv that starts the trainer under the chosen launcher (spawned without a shell). */
export function buildLaunchCommand(opts: LaunchOptions): LaunchCommand {
  const launcher = opts.launcher ?? "local";
  const nproc = opts.nprocPerNode ?? 1;
  const nnodes = opts.nnodes ?? 1;
  const rank = opts.nodeRank ?? 0;
  const addr = opts.masterAddr ?? "127.0.0.1";
  const port = opts.masterPort ?? 29500;
  for (const [k, v] of Object.entries({ nprocPerNode: nproc, nnodes, masterPort: port })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= nnodes) throw new RangeError(`nodeRank must be in [0, ${nnodes - 1}], got ${rank}`);
  const env: Record<string, string> = { PYTHONUNBUFFERED: "1" };
  if (launcher === "local") return { command: opts.python, args: TRAINER_ARGS(opts.jobPath), env };
  if (launcher === "torchrun") {
    return {
      command: opts.python,
      args: [
        "-m", "torch.distributed.run",
        `--nnodes=${nnodes}`,
        `--nproc_per_node=${nproc}`,
        `--node_rank=${rank}`,
        `--master_addr=${addr}`,
        `--master_port=${port}`,
        ...TRAINER_ARGS(opts.jobPath),
      ],
      env,
    };
  }
  if (launcher === "accelerate") {
    return {
      command: opts.python,
      args: [
        "-m", "accelerate.commands.launch",
        ...(opts.accelerateConfigPath ? ["--config_file", opts.accelerateConfigPath] : []),
        `--num_machines=${nnodes}`,
        `--num_processes=${nproc * nnodes}`,
        `--machine_rank=${rank}`,
        `--main_process_ip=${addr}`,
        `--main_process_port=${port}`,
        ...TRAINER_ARGS(opts.jobPath),
      ],
      env,
    };
  }
  throw new RangeError(`unknown launcher "${String(launcher)}" (local | torchrun | accelerate)`);
}

/**
 * DeepSpeed ZeRO-3 config as the recipe trains 7B models: parameters, gradients and optimizer states sharded;
 * "auto" values are filled from the job by the HF Trainer integration.
 */
export function deepspeedZero3Config(opts: { bf16?: boolean; offloadOptimizer?: boolean } = {}): Record<string, unknown> {
  return {
    bf16: { enabled: opts.bf16 ?? "auto" },
    zero_optimization: {
      stage: 3,
      overlap_comm: true,
      contiguous_gradients: true,
      reduce_bucket_size: "auto",
      stage3_prefetch_bucket_size: "auto",
      stage3_param_persistence_threshold: "auto",
      stage3_gather_16bit_weights_on_model_save: true,
      ...(opts.offloadOptimizer ? { offload_optimizer: { device: "cpu", pin_memory: true } } : {}),
    },
    gradient_accumulation_steps: "auto",
    gradient_clipping: "auto",
    train_batch_size: "auto",
    train_micro_batch_size_per_gpu: "auto",
  };
}

/** accelerate's config file (as YAML-ready object) for DDP, DeepSpeed ZeRO-3 or FSDP across nodes. */
export function accelerateConfig(opts: {
  strategy: DistributedStrategy;
  nprocPerNode: number;
  nnodes?: number;
  deepspeedConfigPath?: string;
  mixedPrecision?: "bf16" | "no";
}): Record<string, unknown> {
  const nnodes = opts.nnodes ?? 1;
  const base = {
    compute_environment: "LOCAL_MACHINE",
    num_machines: nnodes,
    num_processes: opts.nprocPerNode * nnodes,
    mixed_precision: opts.mixedPrecision ?? "bf16",
    rdzv_backend: "static",
    same_network: true,
    use_cpu: false,
  };
  if (opts.strategy === "deepspeed-zero3") {
    if (!opts.deepspeedConfigPath) throw new TypeError("deepspeed-zero3 needs deepspeedConfigPath");
    return { ...base, distributed_type: "DEEPSPEED", deepspeed_config: { deepspeed_config_file: opts.deepspeedConfigPath, zero3_init_flag: true } };
  }
  if (opts.strategy === "fsdp") {
    return {
      ...base,
      distributed_type: "FSDP",
      fsdp_config: {
        fsdp_version: 2,
        fsdp_auto_wrap_policy: "TRANSFORMER_BASED_WRAP",
        fsdp_reshard_after_forward: true,
        fsdp_state_dict_type: "SHARDED_STATE_DICT",
        fsdp_cpu_ram_efficient_loading: true,
        // Online merging reads the unsharded parameter view on each rank's partition.
        fsdp_use_orig_params: true,
      },
    };
  }
  return { ...base, distributed_type: "MULTI_GPU" };
}

/** Quote for a POSIX shell (single quotes; embedded ' closed and escaped). */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SlurmOptions {
  jobName: string;
  python: string;
  jobPath: string;
  nnodes: number;
  gpusPerNode: number;
  /** e.g. "48:00:00". */
  time?: string;
  partition?: string;
  account?: string;
  cpusPerTask?: number;
  /** e.g. "logs/%x-%j.out" */
  output?: string;
  /** @default 29500 */
  masterPort?: number;
  /** Lines run before the launch on every node (module loads, env activation). */
  setup?: string[];
}

/** An sbatch script running the job with torchrun on every node (one task per node, c10d rendezvous). */
export function slurmScript(o: SlurmOptions): string {
  if (!Number.isInteger(o.nnodes) || o.nnodes < 1) throw new RangeError(`nnodes must be a positive integer, got ${o.nnodes}`);
  if (!Number.isInteger(o.gpusPerNode) || o.gpusPerNode < 1) throw new RangeError(`gpusPerNode must be a positive integer, got ${o.gpusPerNode}`);
  const port = o.masterPort ?? 29500;
  const lines = [
    "#!/bin/bash",
    `#SBATCH --job-name=${o.jobName}`,
    `#SBATCH --nodes=${o.nnodes}`,
    "#SBATCH --ntasks-per-node=1",
    `#SBATCH --gpus-per-node=${o.gpusPerNode}`,
    ...(o.cpusPerTask ? [`#SBATCH --cpus-per-task=${o.cpusPerTask}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.account ? [`#SBATCH --account=${o.account}`] : []),
    `#SBATCH --output=${o.output ?? "%x-%j.out"}`,
    "",
    "set -euo pipefail",
    ...(o.setup ?? []),
    'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
    `export MASTER_PORT=${port}`,
    "export PYTHONUNBUFFERED=1",
    "",
    "srun --kill-on-bad-exit=1 bash -c " +
      shellQuote(
        [
          shellQuote(o.python),
          "-m torch.distributed.run",
          "--nnodes=$SLURM_NNODES",
          `--nproc_per_node=${o.gpusPerNode}`,
          "--rdzv_id=$SLURM_JOB_ID",
          "--rdzv_backend=c10d",
          "--rdzv_endpoint=$MASTER_ADDR:$MASTER_PORT",
          "-m sfmed_trainer run",
          shellQuote(o.jobPath),
        ].join(" "),
      ),
    "",
  ];
  return lines.join("\n");
}
