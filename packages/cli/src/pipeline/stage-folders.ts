// What the pipeline owns on disk and how it recognises it: stage markers, the lock on `out`, report files, and the
// layout check that refuses to touch folders it did not make.
import { existsSync, statSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { atomicWrite, isInside, isProcessAlive } from "@sfmed/schema";
import { PipelineOutputError } from "./errors.js";
import { InputHashError, projectRoots, STAGE_MARKER, unsafeInput } from "./hash-inputs.js";
import type { PlannedStage } from "./plan.js";
import type { PipelineSpec } from "./spec.js";

/** What a stage folder's marker says: whose folder it is, and whether the stage finished. */
export interface StageMarker {
  /** Absent in markers of older versions, which were written only on success. */
  stage?: string;
  pipeline?: string;
  state?: "running" | "done";
  key: string;
  /** `key` without `--force`'s nonce. */
  baseKey?: string;
  ms?: number;
  argv?: string[];
}

export async function readMarker(dir: string): Promise<StageMarker | undefined> {
  try {
    const m = JSON.parse(await readFile(path.join(dir, STAGE_MARKER), "utf8")) as StageMarker;
    return m && typeof m.key === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

export const writeJson = (file: string, value: unknown) => atomicWrite(file, [JSON.stringify(value, null, 2) + "\n"]);

const TRAIN_STAGES = new Set(["pt", "sft", "rm", "dpo"]);
/** `train pt|sft|rm|dpo`: a rerun continues from the newest checkpoint instead of starting over. */
export const isTraining = (words: string[]) => words[0] === "train" && TRAIN_STAGES.has(words[1] ?? "");

/** `checkpoint-N` folders anywhere in the top levels of `dir` (a training stage's output). */
export async function hasCheckpoints(dir: string, depth = 3): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (/^checkpoint-\d+$/.test(e.name)) return true;
    if (depth > 1 && (await hasCheckpoints(path.join(dir, e.name), depth - 1))) return true;
  }
  return false;
}

/** The report files the pipeline writes into `out`, with how to recognise its own copies. */
export const REPORT_FILES: Record<string, (text: string) => boolean> = {
  "pipeline-report.json": (t) => {
    try {
      const v = JSON.parse(t) as { stages?: unknown; file?: unknown };
      return Array.isArray(v.stages) && typeof v.file === "string";
    } catch {
      return false;
    }
  },
  "report.html": (t) => t.includes("sfmed pipeline report"),
};

export const isDirectory = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

const LOCK = ".sfmed-pipeline.lock";

/**
 * Hold `out` for this process: two runs writing the same stage folders would delete each other's files. A lock
 * whose process is gone (killed) is taken over.
 */
export async function lockOut(out: string): Promise<() => Promise<void>> {
  const file = path.join(out, LOCK);
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }) + "\n";
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, mine, { flag: "wx" });
      return async () => {
        if ((await readFile(file, "utf8").catch(() => "")) === mine) await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(await readFile(file, "utf8")) as typeof holder;
      } catch {
        /* torn: treat as stale */
      }
      if (holder.pid && (holder.host !== hostname() || isProcessAlive(holder.pid))) {
        throw new PipelineOutputError("locked", out, `${out} is in use by another \`sfmed pipeline run\` (pid ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ""}); wait for it to finish, or delete ${file} if that run is gone`);
      }
      await rm(file, { force: true });
    }
  }
  throw new PipelineOutputError("locked", out, `could not lock ${out} (${file})`);
}

/**
 * Refuse, before anything runs, a layout where the pipeline would delete or overwrite what it did not make, or
 * read its own outputs as inputs: stage folders and report files must be absent, empty or the pipeline's own;
 * `out` must neither hold an input nor lie inside one.
 */
export async function checkLayout(spec: PipelineSpec, plan: PlannedStage[]): Promise<void> {
  const file = path.relative(process.cwd(), spec.file) || spec.file;
  const roots = projectRoots(spec.file);
  for (const p of plan) {
    for (const { path: input, named } of p.inputs) {
      // Only inputs hashed by content are walked (see runPipeline); the others are never read.
      const walked = named || roots.some((r) => isInside(r, input));
      const unsafe = walked ? unsafeInput(input) : undefined;
      if (unsafe) throw new InputHashError("unsafe", input, p.stage.id, `${unsafe}: the pipeline never hashes it. Name the files or folders the stage reads`);
      if (isInside(spec.out, input)) {
        const what = path.resolve(spec.out) === path.dirname(spec.file) ? "the pipeline file's own folder" : "a folder";
        throw new PipelineOutputError(
          "input_in_out",
          spec.out,
          `${file}: out: ${spec.out} is ${what} that holds the input ${input} (read by stage "${p.stage.id}"); stage folders there could replace or mix with your files. Set \`out:\` to a folder of its own, e.g. \`out: out\``,
          p.stage.id,
        );
      }
      if (walked && isDirectory(input) && isInside(input, spec.out)) {
        throw new PipelineOutputError(
          "out_in_input",
          spec.out,
          `${file}: out: ${spec.out} lies inside the input ${input} (read by stage "${p.stage.id}"), so every run would change that input. Set \`out:\` to a folder outside it, or name narrower inputs`,
          p.stage.id,
        );
      }
    }
  }
  for (const p of plan) {
    if (p.stage.service || !existsSync(p.dir)) continue;
    if (!isDirectory(p.dir)) {
      throw new PipelineOutputError("not_ours", p.dir, `stage "${p.stage.id}": ${p.dir} exists and is not a folder; the pipeline does not replace files it did not make. Move it away, or set \`out:\` in ${file} to another folder`, p.stage.id);
    }
    const marker = await readMarker(p.dir);
    if (marker) {
      if (marker.stage !== undefined && marker.stage !== p.stage.id) {
        throw new PipelineOutputError("other_stage", p.dir, `stage "${p.stage.id}": ${p.dir} belongs to stage "${marker.stage}"${marker.pipeline ? ` of ${path.resolve(spec.out, marker.pipeline)}` : ""}; the pipeline leaves it alone. Move it away, or set \`out:\` in ${file} to another folder`, p.stage.id);
      }
      continue;
    }
    if ((await readdir(p.dir)).length > 0) {
      throw new PipelineOutputError(
        "not_ours",
        p.dir,
        `stage "${p.stage.id}": ${p.dir} exists and was not made by this pipeline (it has no ${STAGE_MARKER}); the pipeline only deletes or replaces folders it made. Move it away (or delete it yourself), or set \`out:\` in ${file} to another folder`,
        p.stage.id,
      );
    }
  }
  for (const [name, ours] of Object.entries(REPORT_FILES)) {
    const f = path.join(spec.out, name);
    if (existsSync(f) && !ours(await readFile(f, "utf8").catch(() => ""))) {
      throw new PipelineOutputError("not_ours", f, `${f} exists and is not a pipeline report; the pipeline does not overwrite it. Move it away, or set \`out:\` in ${file} to another folder`);
    }
  }
}
