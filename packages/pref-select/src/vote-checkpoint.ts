import { appendFile, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { CheckpointMismatchError } from "./errors.js";
import type { JudgeVerdict } from "./tally-votes.js";

interface Header {
  kind: "sfmed-pref-vote";
  version: 1;
  seed: number;
  judges: string[];
}

/** One finished set: its id, a hash of its content (so edited sets are judged again) and the verdicts. */
export interface CheckpointEntry {
  id: string;
  key: string;
  verdicts: JudgeVerdict[];
}

/**
 * An append-only JSON-lines checkpoint: a header naming the seed and judges, then one line per finished set.
 * A torn last line (the process died mid-write) is ignored on load.
 */
export class VoteCheckpoint {
  private chain: Promise<void> = Promise.resolve();
  private constructor(
    readonly file: string,
    readonly done: Map<string, CheckpointEntry>,
  ) {}

  /**
   * Open (or start) the checkpoint at `file`.
   * @throws CheckpointMismatchError when the file was written with another seed or judge list.
   */
  static async open(file: string, header: { seed: number; judges: string[] }): Promise<VoteCheckpoint> {
    const want: Header = { kind: "sfmed-pref-vote", version: 1, seed: header.seed, judges: header.judges };
    let text: string | null = null;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const done = new Map<string, CheckpointEntry>();
    if (text === null || text.trim() === "") {
      await mkdir(path.dirname(file), { recursive: true });
      await appendFile(file, JSON.stringify(want) + "\n");
      return new VoteCheckpoint(file, done);
    }
    const lines = text.split("\n");
    let head: Header;
    try {
      head = JSON.parse(lines[0]!) as Header;
    } catch {
      throw new CheckpointMismatchError("not a pref vote checkpoint (first line is not JSON)", file);
    }
    if (head.kind !== want.kind) throw new CheckpointMismatchError("not a pref vote checkpoint", file);
    if (head.seed !== want.seed || JSON.stringify(head.judges) !== JSON.stringify(want.judges)) {
      throw new CheckpointMismatchError(
        `checkpoint was written with seed ${head.seed} and judges [${head.judges.join(", ")}], this run has seed ${want.seed} and judges [${want.judges.join(", ")}]`,
        file,
      );
    }
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as CheckpointEntry;
        done.set(e.id, e);
      } catch {
        if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim())) throw new CheckpointMismatchError(`line ${i + 1} is broken`, file);
      }
    }
    // A torn last line has no newline; start the next append on a fresh line.
    if (!text.endsWith("\n")) await appendFile(file, "\n");
    return new VoteCheckpoint(file, done);
  }

  /** Append one finished set; appends are serialised so lines never interleave. */
  add(entry: CheckpointEntry): Promise<void> {
    this.done.set(entry.id, entry);
    this.chain = this.chain.then(() => appendFile(this.file, JSON.stringify(entry) + "\n"));
    return this.chain;
  }

  flush(): Promise<void> {
    return this.chain;
  }
}
