import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { accelerateConfig, buildLaunchCommand, deepspeedZero3Config, shellQuote, slurmScript } from "./launchers.js";

const golden = (name: string) => readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test/golden", name), "utf8");
const argv = (c: { command: string; args: string[] }) => [c.command, ...c.args].join(" ") + "\n";

describe("launch commands", () => {
  it("local", () => {
    expect(argv(buildLaunchCommand({ python: "/venv/bin/python", jobPath: "/runs/sft/job.json" }))).toBe(golden("local.txt"));
  });
  it("torchrun across 2 nodes of 8 GPUs", () => {
    const c = buildLaunchCommand({ launcher: "torchrun", python: "/venv/bin/python", jobPath: "/runs/dpo/job.json", nprocPerNode: 8, nnodes: 2, nodeRank: 1, masterAddr: "10.0.0.1", masterPort: 29501 });
    expect(argv(c)).toBe(golden("torchrun.txt"));
  });
  it("accelerate with a config file", () => {
    const c = buildLaunchCommand({ launcher: "accelerate", python: "/venv/bin/python", jobPath: "/runs/sft/job.json", nprocPerNode: 8, accelerateConfigPath: "/runs/sft/accelerate.yaml" });
    expect(argv(c)).toBe(golden("accelerate.txt"));
  });
  it("slurm script", () => {
    const s = slurmScript({ jobName: "sfmed-sft", python: "/opt/sfmed venv/bin/python", jobPath: "/runs/sft/job.json", nnodes: 4, gpusPerNode: 8, time: "48:00:00", partition: "gpu", setup: ["source /opt/env.sh"] });
    expect(s).toBe(golden("slurm.sh"));
  });
  it("rejects impossible topologies", () => {
    expect(() => buildLaunchCommand({ launcher: "torchrun", python: "p", jobPath: "j", nnodes: 2, nodeRank: 2 })).toThrow(/nodeRank/);
    expect(() => buildLaunchCommand({ launcher: "torchrun", python: "p", jobPath: "j", nprocPerNode: 0 })).toThrow(/nprocPerNode/);
    expect(() => slurmScript({ jobName: "x", python: "p", jobPath: "j", nnodes: 0, gpusPerNode: 8 })).toThrow(/nnodes/);
  });
  it("emits ZeRO-3 and FSDP configs", () => {
    expect(deepspeedZero3Config()).toMatchObject({ zero_optimization: { stage: 3 } });
    expect(accelerateConfig({ strategy: "deepspeed-zero3", nprocPerNode: 8, nnodes: 2, deepspeedConfigPath: "/ds.json" })).toMatchObject({ distributed_type: "DEEPSPEED", num_processes: 16, num_machines: 2 });
    expect(accelerateConfig({ strategy: "fsdp", nprocPerNode: 4 })).toMatchObject({ distributed_type: "FSDP", fsdp_config: { fsdp_use_orig_params: true } });
    expect(() => accelerateConfig({ strategy: "deepspeed-zero3", nprocPerNode: 8 })).toThrow(/deepspeedConfigPath/);
  });
});

describe("shellQuote", () => {
  test.prop([fc.string()])("round-trips through a POSIX shell's single-quote rules", (s) => {
    const q = shellQuote(s);
    // Undo the quoting the way sh does: concatenate quoted and escaped pieces.
    let out = "";
    let i = 0;
    if (!q.startsWith("'")) {
      expect(q).toBe(s);
      return;
    }
    while (i < q.length) {
      if (q[i] === "'") {
        const j = q.indexOf("'", i + 1);
        out += q.slice(i + 1, j);
        i = j + 1;
      } else if (q[i] === "\\") {
        out += q[i + 1];
        i += 2;
      } else throw new Error(`unexpected ${q[i]}`);
    }
    expect(out).toBe(s);
  });
});
