import { readFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { LaunchPlanError } from "./errors.js";
import { planLaunch, writeLaunchFiles } from "./launch-plan.js";

describe("planLaunch", () => {
  it("a local run needs no files and no sharding", () => {
    const p = planLaunch({ configDir: "/runs/sft" });
    expect(p).toEqual({ launch: { launcher: "local", nprocPerNode: 1, nnodes: 1 }, files: [] });
  });

  it("refuses sharding on a single process, naming the setting", () => {
    for (const distributed of ["fsdp", "deepspeed-zero3"] as const) {
      const err = (() => {
        try {
          planLaunch({ configDir: "/r", distributed });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(LaunchPlanError);
      expect(err).toMatchObject({ code: "BAD_OPTION", field: "distributed" });
      expect((err as Error).message).toMatch(/needs several processes/);
    }
    // DDP on one process is plain single-process training.
    expect(planLaunch({ configDir: "/r", distributed: "ddp" }).sharding).toBeUndefined();
  });

  it("torchrun: ZeRO-3 and FSDP both become the trainer's own FSDP sharding, without config files", () => {
    for (const distributed of ["fsdp", "deepspeed-zero3"] as const) {
      const p = planLaunch({ configDir: "/r", launcher: "torchrun", nprocPerNode: 8, nnodes: 2, nodeRank: 1, masterAddr: "10.0.0.1", masterPort: 29501, distributed });
      expect(p.sharding).toBe("fsdp");
      expect(p.strategy).toBe("fsdp");
      expect(p.files).toEqual([]);
      expect(p.launch).toEqual({ launcher: "torchrun", nprocPerNode: 8, nnodes: 2, nodeRank: 1, masterAddr: "10.0.0.1", masterPort: 29501 });
    }
    expect(planLaunch({ configDir: "/r", launcher: "torchrun", nprocPerNode: 2 }).sharding).toBeUndefined();
  });

  it("accelerate: FSDP config by default; a ZeRO-3 request runs as FSDP and keeps the DeepSpeed config for reference", () => {
    const fsdp = planLaunch({ configDir: "/runs/x", launcher: "accelerate", nprocPerNode: 4, nnodes: 2 });
    expect(fsdp.files.map((f) => [path.basename(f.path), f.role])).toEqual([["accelerate.yaml", "launcher-config"]]);
    expect(fsdp.launch.accelerateConfigPath).toBe(path.join("/runs/x", "accelerate.yaml"));
    const cfg = parseYaml(fsdp.files[0]!.text) as Record<string, unknown>;
    expect(cfg).toMatchObject({ distributed_type: "FSDP", num_machines: 2, num_processes: 8 });

    const z3 = planLaunch({ configDir: "/runs/x", launcher: "accelerate", nprocPerNode: 4, distributed: "deepspeed-zero3" });
    expect(z3.strategy).toBe("fsdp");
    expect(z3.files.map((f) => [path.basename(f.path), f.role])).toEqual([
      ["deepspeed-zero3.json", "reference"],
      ["accelerate.yaml", "launcher-config"],
    ]);
    expect(JSON.parse(z3.files[0]!.text).zero_optimization.stage).toBe(3);
    expect((parseYaml(z3.files[1]!.text) as { distributed_type: string }).distributed_type).toBe("FSDP");

    const ddp = planLaunch({ configDir: "/runs/x", launcher: "accelerate", nprocPerNode: 2, distributed: "ddp" });
    expect((parseYaml(ddp.files[0]!.text) as { distributed_type: string }).distributed_type).toBe("MULTI_GPU");
  });

  it("rejects impossible topologies with the field named", () => {
    expect(() => planLaunch({ configDir: "/r", launcher: "torchrun", nnodes: 2, nodeRank: 2 })).toThrow(expect.objectContaining({ field: "nodeRank" }));
    expect(() => planLaunch({ configDir: "/r", nprocPerNode: 0 })).toThrow(expect.objectContaining({ field: "nprocPerNode" }));
    expect(() => planLaunch({ configDir: "/r", masterPort: 70000 })).toThrow(expect.objectContaining({ field: "masterPort" }));
  });

  test.prop([fc.constantFrom("local", "torchrun", "accelerate" as const), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 16 }), fc.constantFrom(undefined, "ddp", "fsdp", "deepspeed-zero3" as const)])(
    "a multi-process plan never asks for DeepSpeed and always keeps the topology",
    (launcher, nproc, nnodes, distributed) => {
      if (launcher === "local" && distributed && distributed !== "ddp") return;
      const p = planLaunch({ configDir: "/r", launcher, nprocPerNode: nproc, nnodes, ...(distributed ? { distributed } : {}) });
      expect(p.launch).toMatchObject({ launcher, nprocPerNode: nproc, nnodes });
      expect(p.strategy).not.toBe("deepspeed-zero3");
      for (const f of p.files.filter((x) => x.role === "launcher-config")) expect(f.text).not.toContain("DEEPSPEED");
    },
  );
});

describe("writeLaunchFiles", () => {
  it("writes every planned file, creating the folder", async () => {
    const dir = path.join(await tempDir(), "runs", "sft");
    const plan = planLaunch({ configDir: dir, launcher: "accelerate", nprocPerNode: 2, distributed: "deepspeed-zero3" });
    await writeLaunchFiles(plan);
    for (const f of plan.files) expect(await readFile(f.path, "utf8")).toBe(f.text);
  });
});
