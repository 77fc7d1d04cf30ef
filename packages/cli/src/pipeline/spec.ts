import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseDocument } from "yaml";
import { splitArgs } from "./argv.js";

export interface StageSpec {
  id: string;
  /** `sfmed` arguments (a command line or a list of words); `${...}` is interpolated. */
  run?: string[];
  /** A long-running model server: `serve CHECKPOINT [--gate FILE]`; later stages read `${id.url}`. */
  service?: string[];
  /** Extra files whose content feeds the cache key (besides every existing path named in the command). */
  inputs: string[];
  /** Human description, shown in listings and the report. */
  description?: string;
}

export interface PipelineSpec {
  name: string;
  file: string;
  /** Directory holding one sub-directory per stage. */
  out: string;
  vars: Record<string, string>;
  stages: StageSpec[];
}

/** The pipeline file is malformed; names the file and the key. */
export class PipelineSpecError extends Error {
  override readonly name = "PipelineSpecError";
  constructor(
    readonly file: string,
    readonly key: string,
    reason: string,
  ) {
    super(`${file}: ${key ? `${key}: ` : ""}${reason}`);
  }
}

const ID = /^[a-z][a-z0-9_-]*$/;
const RESERVED = new Set(["out", "vars", "pipeline", "dir"]);

function words(file: string, key: string, v: unknown): string[] {
  if (typeof v === "string") {
    try {
      return splitArgs(v);
    } catch (e) {
      throw new PipelineSpecError(file, key, (e as Error).message);
    }
  }
  if (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")) return v.map(String);
  throw new PipelineSpecError(file, key, "must be a command line string or a list of words");
}

/**
 * Read and check a pipeline YAML file. `out` is relative to the file's folder; inside commands `${dir}` is that
 * folder, `${out}` the stage's own output folder, `${ID}` another stage's folder and `${ID.url}` a service's URL.
 */
export async function loadPipeline(file: string): Promise<PipelineSpec> {
  const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new PipelineSpecError(file, "", e.code === "ENOENT" ? "no such file" : e.message);
  });
  const doc = parseDocument(text);
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new PipelineSpecError(`${file}:${e.linePos?.[0]?.line ?? "?"}`, "", e.message.split("\n")[0]!);
  }
  const raw = doc.toJS() as Record<string, unknown> | null;
  if (!raw || typeof raw !== "object") throw new PipelineSpecError(file, "", "expected a mapping with `stages`");
  const base = path.dirname(path.resolve(file));
  for (const k of Object.keys(raw)) {
    if (!["name", "out", "vars", "stages"].includes(k)) throw new PipelineSpecError(file, k, "unknown key (name, out, vars, stages)");
  }
  const vars: Record<string, string> = {};
  if (raw.vars !== undefined) {
    if (typeof raw.vars !== "object" || raw.vars === null || Array.isArray(raw.vars)) throw new PipelineSpecError(file, "vars", "must be a mapping");
    for (const [k, v] of Object.entries(raw.vars)) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") throw new PipelineSpecError(file, `vars.${k}`, "must be a string or number");
      vars[k] = String(v);
    }
  }
  const stagesRaw = raw.stages;
  if (!stagesRaw || typeof stagesRaw !== "object" || Array.isArray(stagesRaw)) throw new PipelineSpecError(file, "stages", "must be a mapping of stage id → stage");
  const stages: StageSpec[] = [];
  for (const [id, s] of Object.entries(stagesRaw as Record<string, unknown>)) {
    const key = `stages.${id}`;
    if (!ID.test(id) || RESERVED.has(id)) throw new PipelineSpecError(file, key, "stage ids are lower-case words (a-z, 0-9, - and _), not out/vars/pipeline/dir");
    if (!s || typeof s !== "object" || Array.isArray(s)) throw new PipelineSpecError(file, key, "must be a mapping with `run` or `service`");
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!["run", "service", "inputs", "description"].includes(k)) throw new PipelineSpecError(file, `${key}.${k}`, "unknown key (run, service, inputs, description)");
    }
    if ((o.run === undefined) === (o.service === undefined)) throw new PipelineSpecError(file, key, "needs exactly one of `run` or `service`");
    const inputs = o.inputs === undefined ? [] : words(file, `${key}.inputs`, o.inputs);
    const stage: StageSpec = { id, inputs };
    if (o.run !== undefined) stage.run = words(file, `${key}.run`, o.run);
    if (o.service !== undefined) stage.service = words(file, `${key}.service`, o.service);
    if (typeof o.description === "string") stage.description = o.description;
    if ((stage.run ?? stage.service)!.length === 0) throw new PipelineSpecError(file, key, "empty command");
    stages.push(stage);
  }
  if (stages.length === 0) throw new PipelineSpecError(file, "stages", "no stages");
  return {
    name: typeof raw.name === "string" ? raw.name : path.basename(file),
    file: path.resolve(file),
    out: path.resolve(base, typeof raw.out === "string" ? raw.out : "out"),
    vars,
    stages,
  };
}
