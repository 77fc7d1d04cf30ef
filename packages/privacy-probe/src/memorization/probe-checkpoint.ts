import { existsSync } from "node:fs";
import { appendFile, mkdir, open, stat } from "node:fs/promises";
import path from "node:path";
import { readLines } from "../io/read-lines.js";

/**
 * An append-only JSONL file of per-sample results keyed by `id`: a run appends each result as it finishes, and a
 * rerun reads the file back and skips those ids. A line cut short by a crash is ignored (and redone).
 */
export async function readCheckpoint<T extends { id: string }>(file: string): Promise<Map<string, T>> {
  const done = new Map<string, T>();
  if (!existsSync(file)) return done;
  for await (const line of readLines(file)) {
    if (line.trim() === "") continue;
    try {
      const r = JSON.parse(line) as T;
      if (r && typeof r.id === "string") done.set(r.id, r);
    } catch {
      // a torn last line from an interrupted run
    }
  }
  return done;
}

/** Appends results one line each; writes are serialised so lines never interleave. */
export class CheckpointWriter<T> {
  #queue: Promise<void> = Promise.resolve();
  #ready: Promise<void>;
  constructor(readonly file: string) {
    this.#ready = (async () => {
      await mkdir(path.dirname(path.resolve(file)), { recursive: true });
      // After a crash the file may end in a torn line: start on a fresh line so the next result is not glued to it.
      const size = existsSync(file) ? (await stat(file)).size : 0;
      if (size > 0) {
        const fh = await open(file, "r");
        try {
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) await appendFile(file, "\n");
        } finally {
          await fh.close();
        }
      }
    })();
  }
  append(result: T): Promise<void> {
    const line = JSON.stringify(result) + "\n";
    this.#queue = this.#queue.then(async () => {
      await this.#ready;
      await appendFile(this.file, line);
    });
    return this.#queue;
  }
  flush(): Promise<void> {
    return this.#queue;
  }
}
