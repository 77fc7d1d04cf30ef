import { readdirSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "@sfmed/test-utils";
import { loadJobFile, resolveJobPaths, validateJob, type TrainerJob } from "@sfmed/train-runner";
import { describe, expect, it } from "vitest";
import { applySets } from "../commands/train.js";
import { buildProgram } from "../program.js";
import { referencedStages } from "./interpolate.js";
import { loadPipeline } from "./spec.js";

const examples = readdirSync(path.join(repoRoot, "examples"), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => path.join(repoRoot, "examples", d.name, "pipeline.yaml"));

describe.each(examples)("example pipeline %s", (file) => {
  it("parses, names only existing subcommands, and refers only to earlier stages", async () => {
    const spec = await loadPipeline(file);
    const program = await buildProgram();
    const ids = new Set(spec.stages.map((s) => s.id));
    const seen = new Set<string>();
    for (const s of spec.stages) {
      const words = s.run ?? s.service!;
      const top = program.commands.find((c) => c.name() === words[0]);
      expect(top, `${s.id}: sfmed ${words[0]}`).toBeDefined();
      // A group (pref, eval, train) needs one of its subcommands; a command that also runs itself (dedup FILES…,
      // beside dedup plan|run|…) takes its own arguments.
      const isGroup = top!.commands.length > 0 && top!.registeredArguments.length === 0;
      if (isGroup) expect(top!.commands.map((c) => c.name()), `${s.id}: sfmed ${words[0]} ${words[1]}`).toContain(words[1]);
      for (const ref of referencedStages(words, ids)) expect(seen.has(ref), `${s.id} refers to ${ref}`).toBe(true);
      seen.add(s.id);
    }
  });

  it("has job files that trainer-py's schema accepts once the pipeline's --set values are in", async () => {
    const spec = await loadPipeline(file);
    for (const s of spec.stages) {
      const w = s.run ?? [];
      if (w[0] !== "train" || !w.includes("--config")) continue;
      const config = w[w.indexOf("--config") + 1]!.replace("${dir}", path.dirname(file));
      const setAt = w.indexOf("--set");
      const sets = setAt < 0 ? [] : w.slice(setAt + 1).filter((x) => /^[a-z_.]+=/.test(x)).map((x) => x.replace(/\$\{[^}]+\}/g, "/placeholder"));
      const overrides = applySets({ output_dir: "/placeholder/out" }, sets);
      const job = await loadJobFile(config, resolveJobPaths(overrides as unknown as TrainerJob, "/") as unknown as Record<string, unknown>);
      expect(() => validateJob(job), `${s.id}: ${config}`).not.toThrow();
    }
  });

  it("keeps evaluation sets out of training data (the paper evaluates on them)", async () => {
    const spec = await loadPipeline(file);
    const ids = new Set(spec.stages.map((s) => s.id));
    const EVAL_SOURCES = /^(cmexam|cmb-exam|cmb-clin|ceval|cmmlu|webmedqa|pharmacist-exam|qa)$/;
    const evalData = new Set<string>();
    for (const s of spec.stages) {
      const w = s.run ?? [];
      const from = w.includes("--from") ? w[w.indexOf("--from") + 1]! : "";
      const to = w.includes("--to") ? w[w.indexOf("--to") + 1]! : "";
      const refs = referencedStages(w, ids);
      // data transforms carry the taint on; anything else that reads an evaluation set must not train on it
      if (w[0] === "convert" || w[0] === "sample") {
        if (EVAL_SOURCES.test(from) || to === "qa" || refs.some((r) => evalData.has(r))) evalData.add(s.id);
        continue;
      }
      if (["train", "dedup", "augment", "apply-instructions"].includes(w[0]!)) {
        expect(refs.filter((r) => evalData.has(r)), `${s.id} reads an evaluation set`).toEqual([]);
      }
    }
    if (file.includes("mini-sfmed")) expect([...evalData]).toEqual(expect.arrayContaining(["convert-huatuo", "convert-cmtmedqa", "eval-set", "convert-cmexam"]));
  });
});
