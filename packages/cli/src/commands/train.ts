import { mkdir, rm, stat, symlink } from "node:fs/promises";
import path from "node:path";
import { atomicWrite } from "@sfmed/schema";
import {
  accelerateConfig,
  createTinyModel,
  deepspeedZero3Config,
  ensureTrainerEnv,
  findResumeCheckpoint,
  loadJobFile,
  readLogTail,
  resumeJob,
  runJob,
  ServerStartError,
  slurmScript,
  startServer,
  trainerPythonEnv,
  validateJob,
  resolveJobPaths,
  type TrainerJob,
  type DistributedStrategy,
  type JobSummary,
  type LauncherKind,
  type StepEvent,
  type TrainerEvent,
} from "@sfmed/train-runner";
import { stringify as toYaml } from "yaml";
import { UsageError, type CliContext } from "../context.js";
import { createProgress } from "../progress.js";
import { InterruptedError, watchStopSignals, type StopSignal } from "../signals.js";
import { resolveModelArg } from "./hub-inputs.js";
import type { Register } from "./index.js";

interface LaunchFlags {
  launcher: LauncherKind;
  nprocPerNode?: string;
  nnodes?: string;
  nodeRank?: string;
  masterAddr?: string;
  masterPort?: string;
  distributed?: DistributedStrategy;
  json?: boolean;
  python?: string;
}

const int = (name: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${v}"`);
  return n;
};

/** `--set a.b=value`: value parsed as JSON when it parses (numbers, booleans, arrays), else taken as a string. */
export function applySets(job: Record<string, unknown>, sets: string[]): Record<string, unknown> {
  const out = structuredClone(job);
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set needs KEY=VALUE (e.g. data.train=sft.jsonl), got "${s}"`);
    const keys = s.slice(0, eq).split(".");
    // Nothing may reach an object prototype: these keys are refused anywhere in the path.
    const bad = keys.find((k) => k === "__proto__" || k === "constructor" || k === "prototype" || k === "");
    if (bad !== undefined) throw new UsageError(`--set "${s.slice(0, eq)}": the key "${bad}" is not allowed`);
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    let node = out;
    for (const k of keys.slice(0, -1)) {
      if (!Object.hasOwn(node, k) || !node[k] || typeof node[k] !== "object" || Array.isArray(node[k])) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return out;
}

/**
 * A job's `model:` may be a Hub id (`Qwen/Qwen2.5-7B`, `ORG/NAME@REV`, `hf://ORG/NAME`): loading the job made it a
 * path under the job file's folder, so when that path does not exist the id as written is fetched into the HF cache
 * (weights, config, tokenizer) and the snapshot folder used instead.
 */
export async function hubModelOfJob(model: string, config: string, sets: Record<string, unknown>, quiet: boolean): Promise<string> {
  // No model (a job the trainer completes itself, e.g. from its resume checkpoint) or a local folder: nothing to fetch.
  if (!model || (await stat(model).then(() => true, () => false))) return model;
  const written = typeof sets.model === "string" ? sets.model : path.relative(path.dirname(path.resolve(config)), model).split(path.sep).join("/");
  const id = written.replace(/^hf:\/(?!\/)/, "hf://");
  const resolved = await resolveModelArg(id, quiet);
  return resolved === id ? model : resolved;
}

/** Point `output_dir/model` at the checkpoint to use downstream (best, else final): a stable path for pipelines. */
async function linkModel(s: JobSummary): Promise<void> {
  if (s.status !== "completed" || !s.model) return;
  const link = path.join(s.outputDir, "model");
  if (path.resolve(s.model) === link) return;
  await rm(link, { force: true, recursive: false }).catch(() => undefined);
  await symlink(path.relative(s.outputDir, s.model), link, "dir");
}

// Plain text whatever the name (a user's --output ending in .gz is still a script).
const writeAtomic = (file: string, text: string): Promise<void> => atomicWrite(file, [text], { gzip: false });

/** Launcher settings from flags; for accelerate, writes its config (and DeepSpeed's) beside the job. */
async function launchFrom(o: LaunchFlags, outputDir: string) {
  const nproc = int("nproc-per-node", o.nprocPerNode) ?? 1;
  const nnodes = int("nnodes", o.nnodes) ?? 1;
  const launch = {
    launcher: o.launcher,
    nprocPerNode: nproc,
    nnodes,
    ...(o.nodeRank !== undefined ? { nodeRank: int("node-rank", o.nodeRank)! } : {}),
    ...(o.masterAddr ? { masterAddr: o.masterAddr } : {}),
    ...(o.masterPort !== undefined ? { masterPort: int("master-port", o.masterPort)! } : {}),
  };
  if (o.launcher !== "accelerate") {
    // Under torchrun the trainer shards with FSDP itself (job key train.sharding); ZeRO-3 maps to FSDP full sharding.
    if (o.distributed && o.distributed !== "ddp") {
      if (o.launcher === "local") throw new UsageError(`--distributed ${o.distributed} needs several processes: --launcher torchrun or accelerate`);
      return { ...launch, sharding: "fsdp" as const };
    }
    return launch;
  }
  await mkdir(outputDir, { recursive: true });
  // The trainer shards with FSDP; a ZeRO-3 request becomes FSDP full sharding (the same memory profile), so the
  // launch needs no DeepSpeed install. The ZeRO-3 config is still written for reference and other trainers.
  const requested = o.distributed ?? "fsdp";
  if (requested === "deepspeed-zero3") {
    await writeAtomic(path.join(outputDir, "deepspeed-zero3.json"), JSON.stringify(deepspeedZero3Config(), null, 2) + "\n");
  }
  const strategy = requested === "deepspeed-zero3" ? "fsdp" : requested;
  const cfgPath = path.join(outputDir, "accelerate.yaml");
  await writeAtomic(cfgPath, toYaml(accelerateConfig({ strategy, nprocPerNode: nproc, nnodes })));
  return { ...launch, accelerateConfigPath: cfgPath };
}

/** Progress bar on a TTY (step, loss, lr, tokens/s, ETA); `--json` passes events through to stdout instead. */
function eventRenderer(c: CliContext, json: boolean | undefined, label: string) {
  const bar = createProgress({ label, unit: "step", quiet: c.quiet || json });
  let total = 0;
  const onEvent = (e: TrainerEvent) => {
    if (json) {
      c.stdout.write(JSON.stringify(e) + "\n");
      return;
    }
    if (e.event === "start" && typeof e.total_steps === "number") {
      total = e.total_steps;
      bar.setTotal(total);
    } else if (e.event === "step") {
      const s = e as StepEvent;
      if (typeof s.total_steps === "number" && s.total_steps !== total) bar.setTotal((total = s.total_steps));
      bar.update(s.step, {
        ...(s.loss !== undefined ? { loss: s.loss.toFixed(4) } : {}),
        ...(s.lr !== undefined ? { lr: s.lr.toExponential(2) } : {}),
        ...(s.tokens_per_s !== undefined ? { "tok/s": Math.round(s.tokens_per_s) } : {}),
      });
      if (!bar.active && s.step % 10 === 0) c.info(`step ${s.step}${total ? `/${total}` : ""} loss ${s.loss?.toFixed(4) ?? "?"}`);
    } else if (e.event === "eval" && typeof e.eval_loss === "number") {
      if (!bar.active) c.info(`eval loss ${(e.eval_loss as number).toFixed(4)}`);
    } else if (e.event === "checkpoint") {
      if (!bar.active) c.info(`checkpoint ${String(e.path)}`);
    }
  };
  return { onEvent, stop: () => bar.stop() };
}

/**
 * SIGINT (Ctrl-C) or SIGTERM aborts the run: the trainer checkpoints and the command ends as interrupted (exit
 * 130 or 143). A second signal finds no listener here and ends the process at once.
 */
function stopController(c: CliContext): { signal: AbortSignal; readonly received: StopSignal | undefined; dispose(): void } {
  const ac = new AbortController();
  const w = watchStopSignals((sig) => {
    c.info(`stopping (${sig}): the trainer is saving a checkpoint (Ctrl-C again to force)`);
    w.dispose();
    ac.abort();
  });
  return {
    signal: ac.signal,
    get received() {
      return w.received;
    },
    dispose: () => w.dispose(),
  };
}

/** Run (or resume) a job; an interrupted run becomes an InterruptedError, so it never exits 0. */
async function runStoppable(c: CliContext, json: boolean | undefined, label: string, start: (signal: AbortSignal, onEvent: (e: TrainerEvent) => void) => Promise<JobSummary>): Promise<void> {
  const r = eventRenderer(c, json, label);
  const stop = stopController(c);
  let summary: JobSummary;
  try {
    summary = await start(stop.signal, r.onEvent);
  } catch (err) {
    if (stop.received) throw new InterruptedError(stop.received, `${label} stopped by ${stop.received} before the trainer could checkpoint: ${(err as Error).message}`, { cause: err });
    throw err;
  } finally {
    stop.dispose();
    r.stop();
  }
  if (summary.status === "interrupted") {
    const mins = (summary.durationMs / 60000).toFixed(1);
    throw new InterruptedError(stop.received ?? "SIGINT", `${label} interrupted after ${mins} min, checkpoint saved; resume with: sfmed train resume ${summary.outputDir}`);
  }
  await linkModel(summary);
  if (!json) c.info(`done in ${(summary.durationMs / 60000).toFixed(1)} min → ${summary.outputDir}${summary.bestCheckpoint ? ` (best ${summary.bestCheckpoint})` : ""}`);
}

function addLaunchFlags<T extends import("commander").Command>(cmd: T): T {
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
    ).action(async (o: LaunchFlags & { config: string; outputDir?: string; set?: string[]; resume?: boolean }) => {
      const c = ctx();
      // Overrides given on the command line are relative to the working directory, not the job file.
      const sets = applySets(o.outputDir ? { output_dir: o.outputDir } : {}, o.set ?? []);
      const overrides = resolveJobPaths(sets as unknown as TrainerJob, process.cwd()) as unknown as Record<string, unknown>;
      const job = await loadJobFile(o.config, overrides);
      if (job.stage !== stage) throw new UsageError(`${o.config} is a "${job.stage}" job; run it with: sfmed train ${job.stage}`);
      const env = await ensureTrainerEnv({ ...(o.python ? { python: o.python } : {}), onLog: (l) => c.info(l) });
      const { sharding, ...launch } = { sharding: undefined as "fsdp" | undefined, ...(await launchFrom(o, job.output_dir)) };
      if (sharding) job.train = { ...job.train, sharding };
      if (o.resume && !job.resume_from) {
        const from = await findResumeCheckpoint(job.output_dir, { onWarning: (m) => c.info(`warning: ${m}`) });
        if (from) {
          job.resume_from = from;
          c.info(`resuming from ${from}`);
        }
      }
      // A Hub model id is fetched last, once the environment and flags are known to be usable.
      job.model = await hubModelOfJob(job.model, o.config, sets, c.quiet);
      await runStoppable(c, o.json, stage, (signal, onEvent) =>
        runJob(job, { python: env.python, env: trainerPythonEnv(env), launch, signal, onEvent, validate: (j) => validateJob(j), onWarning: (w) => c.stderr.write(`sfmed train: warning: ${w.message}\n`) }),
      );
    });
  }

  addLaunchFlags(train.command("resume").description("continue an interrupted job from its output folder").argument("<dir>", "the job's output_dir")).action(
    async (dir: string, o: LaunchFlags) => {
      const c = ctx();
      const env = await ensureTrainerEnv({ ...(o.python ? { python: o.python } : {}), onLog: (l) => c.info(l) });
      const launch = await launchFrom(o, dir);
      await runStoppable(c, o.json, "resume", (signal, onEvent) =>
        resumeJob(path.resolve(dir), { python: env.python, env: trainerPythonEnv(env), launch, signal, onEvent, onNotice: (m) => c.info(`warning: ${m}`) }),
      );
    },
  );

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
    .action(async (o: { config: string; nodes: string; gpusPerNode: string; output: string; python: string; time?: string; partition?: string; account?: string; setup?: string[] }) => {
      const job = await loadJobFile(o.config);
      await mkdir(job.output_dir, { recursive: true });
      const jobPath = path.join(job.output_dir, "job.json");
      await writeAtomic(jobPath, JSON.stringify(job, null, 2) + "\n");
      const script = slurmScript({
        jobName: `sfmed-${job.stage}`,
        python: o.python,
        jobPath,
        nnodes: int("nodes", o.nodes)!,
        gpusPerNode: int("gpus-per-node", o.gpusPerNode)!,
        ...(o.time ? { time: o.time } : {}),
        ...(o.partition ? { partition: o.partition } : {}),
        ...(o.account ? { account: o.account } : {}),
        ...(o.setup ? { setup: o.setup } : {}),
        output: path.join(job.output_dir, "%x-%j.out"),
      });
      await writeAtomic(o.output, script);
      ctx().info(`wrote ${o.output}; submit with: sbatch ${o.output}`);
    });

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
      const env = await ensureTrainerEnv({ ...(o.python ? { python: o.python } : {}), onLog: (l) => c.info(l) });
      const dir = await createTinyModel(o.output, {
        python: env.python,
        env: trainerPythonEnv(env),
        corpus: o.corpus,
        vocabSize: int("vocab-size", o.vocabSize)!,
        hidden: int("hidden", o.hidden)!,
        layers: int("layers", o.layers)!,
        seed: int("seed", o.seed)!,
      });
      c.info(`tiny model → ${dir}`);
    });

  program
    .command("serve")
    .description("serve a checkpoint over an OpenAI-compatible HTTP API (trainer-py serve; limits in docs/serve.md)")
    .argument("<checkpoint>", "checkpoint folder or Hub model id ORG/NAME[@REV]")
    .option("--host <host>", "bind address (loopback by default; another address without --api-key is warned about)", "127.0.0.1")
    .option("--port <port>", "port (0 = any free port)", "0")
    .option("--gate <file>", "embedding-gate file from `sfmed probe build-gate`")
    .option("--api-key <key>", "require Authorization: Bearer KEY (default: $SFMED_SERVE_API_KEY; handed to the server through its environment)")
    .option("--max-body-bytes <n>", "largest request body; 413 beyond (server default 8 MiB)")
    .option("--max-queue <n>", "requests waiting for the model; 503 + Retry-After beyond (server default 32)")
    .option("--max-queue-wait <seconds>", "longest wait for the model before a 503 (server default 60)")
    .option("--python <path>", "base Python for the trainer environment")
    .action(async (checkpointArg: string, o: { host: string; port: string; gate?: string; apiKey?: string; maxBodyBytes?: string; maxQueue?: string; maxQueueWait?: string; python?: string }) => {
      const c = ctx();
      const checkpoint = await resolveModelArg(checkpointArg, c.quiet);
      const extraArgs: string[] = [];
      if (o.maxBodyBytes !== undefined) {
        const n = int("max-body-bytes", o.maxBodyBytes)!;
        if (n < 1) throw new UsageError(`--max-body-bytes must be at least 1, got "${o.maxBodyBytes}"`);
        extraArgs.push("--max-body-bytes", String(n));
      }
      if (o.maxQueue !== undefined) extraArgs.push("--max-queue", String(int("max-queue", o.maxQueue)));
      if (o.maxQueueWait !== undefined) {
        const w = Number(o.maxQueueWait);
        if (!(w > 0) || !Number.isFinite(w)) throw new UsageError(`--max-queue-wait must be a positive number of seconds, got "${o.maxQueueWait}"`);
        extraArgs.push("--max-queue-wait", String(w));
      }
      const apiKey = o.apiKey ?? process.env.SFMED_SERVE_API_KEY;
      const env = await ensureTrainerEnv({ ...(o.python ? { python: o.python } : {}), onLog: (l) => c.info(l) });
      // SIGINT/SIGTERM stop the server (also while the model loads) and end the command with 130/143.
      const ac = new AbortController();
      let server: Awaited<ReturnType<typeof startServer>> | undefined;
      const stop = watchStopSignals((sig, count) => {
        if (count === 1) c.info(`stopping the server (${sig})`);
        ac.abort();
        void server?.close();
      });
      try {
        try {
          server = await startServer(checkpoint, { python: env.python, env: trainerPythonEnv(env), host: o.host, port: int("port", o.port)!, extraArgs, signal: ac.signal, ...(o.gate ? { gate: o.gate } : {}), ...(apiKey ? { apiKey } : {}) });
        } catch (err) {
          if (stop.received) throw new InterruptedError(stop.received, `serve stopped by ${stop.received} before it was ready`, { cause: err });
          throw err;
        }
        if (stop.received) void server.close(); // a signal during the /v1/models check
        else {
          c.stdout.write(JSON.stringify({ event: "ready", baseURL: server.baseURL }) + "\n");
          c.info(`serving ${checkpoint} at ${server.baseURL} (Ctrl-C to stop; log ${server.logPath})`);
        }
        const x = await server.exited;
        if (stop.received) throw new InterruptedError(stop.received, `serve stopped by ${stop.received}`);
        const how = x.signal ? `was killed by ${x.signal}` : `exited with code ${x.code}`;
        throw new ServerStartError(`serve ${how} while serving`, server.logPath, await readLogTail(server.logPath));
      } finally {
        stop.dispose();
      }
    });
};
