import { statSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { CheckpointEvent, TrainerEvent } from "./events.js";

export interface ReadEventsOptions {
  /** Told about each line that is not a JSON event (a run killed mid-write leaves a cut last line). */
  onWarning?: (message: string) => void;
}

/**
 * Read a job's `events.jsonl`. A line that is not a JSON event object is skipped with a warning naming the file
 * and line, so one torn line never blocks a resume. A missing file reads as no events.
 */
export async function readEventsFile(file: string, opts: ReadEventsOptions = {}): Promise<TrainerEvent[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const events: TrainerEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      v = undefined;
    }
    if (v && typeof v === "object" && !Array.isArray(v) && typeof (v as { event?: unknown }).event === "string") events.push(v as TrainerEvent);
    else opts.onWarning?.(`${file}:${i + 1}: skipped a line that is not a trainer event: ${line.length > 80 ? `${line.slice(0, 80)}…` : line}`);
  }
  return events;
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** `checkpoint-N` folders under `dir` and its `model-*` folders (rm with several models), oldest first. */
async function checkpointFolders(dir: string): Promise<string[]> {
  const found: Array<[number, number, string]> = [];
  const scan = async (d: string, model: number) => {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const m = /^checkpoint-(\d+)$/.exec(name);
      if (m && isDir(path.join(d, name))) found.push([model, Number(m[1]), path.join(d, name)]);
      const mm = model < 0 ? /^model-(\d+)$/.exec(name) : null;
      if (mm) await scan(path.join(d, name), Number(mm[1]));
    }
  };
  await scan(dir, -1);
  return found.sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((f) => f[2]);
}

/**
 * The checkpoint to resume a job in `dir` from: the newest `checkpoint` event in `events.jsonl` whose folder still
 * exists (the trainer writes a checkpoint to a temp folder and renames it, so an existing folder is complete). When
 * the newest one is gone (deleted, or lost with a disk), the newest one that exists is used, with a warning. When
 * no event names an existing folder, the newest `checkpoint-N` folder on disk is used. Undefined when there is none.
 */
export async function findResumeCheckpoint(dir: string, opts: ReadEventsOptions = {}): Promise<string | undefined> {
  const events = await readEventsFile(path.join(dir, "events.jsonl"), opts);
  const listed = events
    .filter((e): e is CheckpointEvent => e.event === "checkpoint" && typeof (e as CheckpointEvent).path === "string")
    .map((e) => path.resolve(dir, e.path));
  for (let i = listed.length - 1; i >= 0; i--) {
    const p = listed[i]!;
    if (p.endsWith(".tmp") || !isDir(p)) continue;
    if (i < listed.length - 1) opts.onWarning?.(`the newest checkpoint ${listed.at(-1)} is missing; resuming from ${p}`);
    return p;
  }
  const onDisk = (await checkpointFolders(dir)).at(-1);
  if (onDisk && listed.length) opts.onWarning?.(`no checkpoint named in ${path.join(dir, "events.jsonl")} exists; resuming from ${onDisk}`);
  return onDisk ?? undefined;
}
