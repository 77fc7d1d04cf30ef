import { mkdir } from "node:fs/promises";
import path from "node:path";
import { TrainerRunError } from "./errors.js";
import type { ErrorEvent } from "./events.js";
import { spawnTrainer } from "./trainer-process.js";

export interface TinyModelOptions {
  /** Python of the trainer environment. */
  python: string;
  env?: Record<string, string>;
  /** JSONL/JSON record files whose strings train the byte-level BPE tokenizer. */
  corpus: string[];
  /** @default 1024 */
  vocabSize?: number;
  /** @default 64 */
  hidden?: number;
  /** @default 2 */
  layers?: number;
  /** @default 0 */
  seed?: number;
}

/**
 * Build a tiny Qwen2 checkpoint (tokenizer trained on `corpus`, random weights) in `out`: the starting point of
 * examples and tests that train on a CPU in seconds. Same format as a real checkpoint, so every stage accepts it.
 * @throws TrainerRunError when the trainer fails.
 */
export async function createTinyModel(out: string, opts: TinyModelOptions): Promise<string> {
  const dir = path.resolve(out);
  await mkdir(dir, { recursive: true });
  const logPath = path.join(dir, "tiny.log");
  let error: ErrorEvent | undefined;
  const p = spawnTrainer({
    command: opts.python,
    args: [
      "-m", "sfmed_trainer.tiny", dir,
      "--corpus", ...opts.corpus.map((c) => path.resolve(c)),
      "--vocab-size", String(opts.vocabSize ?? 1024),
      "--hidden", String(opts.hidden ?? 64),
      "--layers", String(opts.layers ?? 2),
      "--seed", String(opts.seed ?? 0),
    ],
    env: { PYTHONUNBUFFERED: "1", ...opts.env },
    logPath,
    onEvent: (e) => {
      if (e.event === "error") error = e as ErrorEvent;
    },
  });
  const { code } = await p.exited;
  if (code !== 0 || error) throw new TrainerRunError(`tiny model failed: ${error?.message ?? `exit ${code}`}`, logPath, code, error);
  return dir;
}
