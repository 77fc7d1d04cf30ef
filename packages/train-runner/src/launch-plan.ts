/**
 * Launch policy: which launcher settings a job runs under, how a sharding request maps onto what the trainer
 * implements, and which config files the launcher reads. Pure planning; {@link writeLaunchFiles} writes the files.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { atomicWrite } from "@sfmed/schema";
import { stringify as toYaml } from "yaml";
import { LaunchPlanError } from "./errors.js";
import { accelerateConfig, deepspeedZero3Config, type DistributedStrategy, type LauncherKind, type LaunchOptions } from "./launchers.js";

export interface PlanLaunchOptions {
  /** @default "local" */
  launcher?: LauncherKind;
  /** Processes (GPUs) per node. @default 1 */
  nprocPerNode?: number;
  /** @default 1 */
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  /**
   * Requested sharding. The trainer shards with FSDP itself: `deepspeed-zero3` runs as FSDP full sharding (the
   * same memory profile, no DeepSpeed install). Default: `fsdp` under accelerate, none (plain DDP) otherwise.
   */
  distributed?: DistributedStrategy;
  /** Folder the launcher's config files go into (the job's `output_dir`). */
  configDir: string;
}

/** A config file the launch needs, to be written (atomically) before the trainer starts. */
export interface LaunchFile {
  path: string;
  text: string;
  /** Read by the launcher (`accelerate.yaml`), or kept for reference and other trainers (`deepspeed-zero3.json`). */
  role: "launcher-config" | "reference";
}

export interface LaunchPlan {
  /** Settings for `runJob`/`resumeJob` (`opts.launch`). */
  launch: Omit<LaunchOptions, "python" | "jobPath">;
  /** Sharding the job must ask the trainer for (`train.sharding`), when any. */
  sharding?: "fsdp";
  /** The strategy the run actually uses (after the ZeRO-3 → FSDP mapping); undefined for a single process. */
  strategy?: Exclude<DistributedStrategy, "deepspeed-zero3">;
  files: LaunchFile[];
}

function positiveInt(field: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw new LaunchPlanError(`must be an integer ≥ ${min}, got ${v}`, field);
}

function checkTopology(o: PlanLaunchOptions): void {
  positiveInt("nprocPerNode", o.nprocPerNode, 1);
  positiveInt("nnodes", o.nnodes, 1);
  positiveInt("nodeRank", o.nodeRank, 0);
  positiveInt("masterPort", o.masterPort, 1);
  if (o.masterPort !== undefined && o.masterPort > 65535) throw new LaunchPlanError(`must be a port number ≤ 65535, got ${o.masterPort}`, "masterPort");
  const nnodes = o.nnodes ?? 1;
  if (o.nodeRank !== undefined && o.nodeRank >= nnodes) throw new LaunchPlanError(`must be below nnodes (${nnodes}), got ${o.nodeRank}`, "nodeRank");
}

/**
 * Plan a launch: launcher settings, the sharding the trainer applies, and the accelerate/DeepSpeed config files.
 * @throws LaunchPlanError (code `BAD_OPTION`) for sharding on a single process or an impossible topology.
 */
export function planLaunch(o: PlanLaunchOptions): LaunchPlan {
  checkTopology(o);
  const launcher = o.launcher ?? "local";
  const nprocPerNode = o.nprocPerNode ?? 1;
  const nnodes = o.nnodes ?? 1;
  const launch: LaunchPlan["launch"] = {
    launcher,
    nprocPerNode,
    nnodes,
    ...(o.nodeRank !== undefined ? { nodeRank: o.nodeRank } : {}),
    ...(o.masterAddr ? { masterAddr: o.masterAddr } : {}),
    ...(o.masterPort !== undefined ? { masterPort: o.masterPort } : {}),
  };
  if (launcher !== "accelerate") {
    // Under torchrun the trainer shards with FSDP itself (job key train.sharding); ZeRO-3 maps to FSDP full sharding.
    if (!o.distributed || o.distributed === "ddp") return { launch, ...(launcher === "torchrun" ? { strategy: "ddp" as const } : {}), files: [] };
    if (launcher === "local") throw new LaunchPlanError(`"${o.distributed}" needs several processes: launcher torchrun or accelerate`, "distributed");
    return { launch, sharding: "fsdp", strategy: "fsdp", files: [] };
  }
  const requested = o.distributed ?? "fsdp";
  const strategy = requested === "deepspeed-zero3" ? "fsdp" : requested;
  const files: LaunchFile[] = [];
  // The ZeRO-3 config is still written, for reference and for trainers that run DeepSpeed.
  if (requested === "deepspeed-zero3") {
    files.push({ path: path.join(o.configDir, "deepspeed-zero3.json"), text: JSON.stringify(deepspeedZero3Config(), null, 2) + "\n", role: "reference" });
  }
  const cfgPath = path.join(o.configDir, "accelerate.yaml");
  files.push({ path: cfgPath, text: toYaml(accelerateConfig({ strategy, nprocPerNode, nnodes })), role: "launcher-config" });
  return { launch: { ...launch, accelerateConfigPath: cfgPath }, strategy, files };
}

/** Write a plan's config files atomically (creating their folders). */
export async function writeLaunchFiles(plan: Pick<LaunchPlan, "files">): Promise<void> {
  for (const f of plan.files) {
    await mkdir(path.dirname(f.path), { recursive: true });
    await atomicWrite(f.path, [f.text], { gzip: false });
  }
}
