// A pipeline's stages planned before anything runs: words, dependencies, the command line its cache key sees, and
// the existing paths it reads.
import { existsSync } from "node:fs";
import path from "node:path";
import { isInside } from "@sfmed/schema";
import { splitArgs } from "./argv.js";
import { PipelineStageError } from "./errors.js";
import { interpolate, referencedStages } from "./interpolate.js";
import type { PipelineSpec } from "./spec.js";

export interface PlannedStage {
  stage: PipelineSpec["stages"][number];
  dir: string;
  words: string[];
  deps: string[];
  argvForKey: string[];
  /** Service URLs left as `${id.url}`. */
  argv: string[];
  /** Existing paths the command and `inputs:` name outside the stage folders; `named` for `inputs:`. */
  inputs: Array<{ path: string; named: boolean }>;
  /** `hf://` URIs the command and `inputs:` name, hashed by the commit they resolve to. */
  hubInputs: string[];
}

/** Variables may use ${dir} and earlier variables. */
function resolveVars(spec: PipelineSpec): { vars: Record<string, string>; keyVars: Record<string, string> } {
  const vars: Record<string, string> = {};
  const keyVars: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.vars)) {
    vars[k] = interpolate(v, { vars: { ...vars, dir: path.dirname(spec.file) }, stageDirs: {} });
    keyVars[k] = interpolate(v, { vars: { ...keyVars, dir: "<dir>" }, stageDirs: {} });
  }
  return { vars, keyVars };
}

export function stageScope(spec: PipelineSpec, plan: PlannedStage[], p: PlannedStage) {
  const stageDirs: Record<string, string> = {};
  for (const q of plan) {
    if (q === p) break;
    stageDirs[q.stage.id] = q.dir;
  }
  return { vars: { ...resolveVars(spec).vars, dir: path.dirname(spec.file), out: p.dir }, stageDirs };
}

/** Every stage's words, dependencies, key command line and the existing paths it reads, before anything runs. */
export function planStages(spec: PipelineSpec): PlannedStage[] {
  const ids = new Set(spec.stages.map((s) => s.id));
  const stageDirs: Record<string, string> = {};
  const { vars, keyVars } = resolveVars(spec);
  const stageDirOf = (p: string) => spec.stages.find((s) => isInside(path.join(spec.out, s.id), p));
  const plan: PlannedStage[] = [];
  for (const stage of spec.stages) {
    const dir = path.join(spec.out, stage.id);
    // A word that is exactly `${var}` expands to the variable's words (like an unquoted shell variable), so a
    // variable can hold several flags.
    const words = (stage.run ?? stage.service!).flatMap((w) => {
      const m = /^\$\{([a-zA-Z_][\w-]*)\}$/.exec(w);
      return m && m[1]! in vars && /\s/.test(spec.vars[m[1]!]!) ? splitArgs(spec.vars[m[1]!]!) : [w];
    });
    const earlier = new Set(Object.keys(stageDirs));
    const deps = referencedStages([...words, ...stage.inputs], ids);
    for (const ref of deps) {
      if (!earlier.has(ref)) throw new PipelineStageError(stage.id, `refers to \${${ref}}, which is not an earlier stage`, spec.file);
    }
    // The key sees placeholders, not absolute folders, so moving the pipeline keeps its cache.
    const keyScope = { vars: { ...keyVars, dir: "<dir>", out: "<out>" }, stageDirs: Object.fromEntries(Object.keys(stageDirs).map((k) => [k, `<${k}>`])), serviceUrl: (k: string) => `<${k}.url>` };
    const scope = { vars: { ...vars, dir: path.dirname(spec.file), out: dir }, stageDirs: { ...stageDirs } };
    const argvForKey = words.map((w) => interpolate(w, keyScope));
    const argv = words.map((w) => interpolate(w, { ...scope, serviceUrl: (k) => `\${${k}.url}` }));
    const named = stage.inputs.map((w) => interpolate(w, { ...scope, serviceUrl: () => "" }));
    const inputs: PlannedStage["inputs"] = [];
    const hubInputs: string[] = [];
    const consider = (w: string, isNamed: boolean) => {
      if (!w || w.startsWith("-") || w.includes("${")) return;
      // A Hub URI is never a local path (path.resolve would make it one).
      if (w.startsWith("hf://")) {
        if (!hubInputs.includes(w)) hubInputs.push(w);
        return;
      }
      const p = path.resolve(w);
      // Paths in stage folders are outputs of this pipeline (the stage's own or an earlier one's).
      if (stageDirOf(p) || !existsSync(p)) return;
      if (!inputs.some((i) => i.path === p)) inputs.push({ path: p, named: isNamed });
      else if (isNamed) inputs.find((i) => i.path === p)!.named = true;
    };
    // The first word is the subcommand's name, not a path.
    for (const a of argv.slice(1)) {
      consider(a, false);
      if (a.includes("=")) consider(a.slice(a.indexOf("=") + 1), false);
    }
    for (const w of named) consider(w, true);
    plan.push({ stage, dir, words, deps, argvForKey, argv, inputs, hubInputs });
    stageDirs[stage.id] = dir;
  }
  return plan;
}
