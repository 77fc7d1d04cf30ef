import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { applyInstructionsStream, defaultPools, readInstructionFile, type InstructionPools } from "@sfmed/instruct-augment";
import { recordsOnly, type Dialogue } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { intFlag } from "../flags.js";
import { guardOutputs, parseEncoding, readAny, requireFile, writeAny } from "./io-helpers.js";
import type { Register } from "./index.js";

interface ApplyFlags {
  input: string;
  output: string;
  instructions?: string[];
  single?: string;
  multi?: string;
  seed: string;
  replace?: boolean;
  encoding?: string;
}

/** Pools from `--instructions` files (augment output: records carry their pool) and per-pool files. */
async function loadPools(o: ApplyFlags): Promise<InstructionPools> {
  const pools: InstructionPools = { single: [], multi: [] };
  const files: string[] = [];
  for (const p of o.instructions ?? []) {
    // A folder (what `sfmed augment -o DIR/` writes) stands for the .jsonl files in it.
    if (await stat(p).then((st) => st.isDirectory(), () => false)) {
      for (const f of (await readdir(p)).sort()) if (f.endsWith(".jsonl")) files.push(path.join(p, f));
    } else files.push(p);
  }
  for (const file of files) {
    for (const { text, pool } of await readInstructionFile(file)) {
      if (pool !== "single" && pool !== "multi") throw new UsageError(`${file}: every record needs "pool": "single" or "multi" (or pass the file with --single/--multi)`);
      pools[pool].push(text);
    }
  }
  if (o.single) pools.single.push(...(await readInstructionFile(o.single)).map((r) => r.text));
  if (o.multi) pools.multi.push(...(await readInstructionFile(o.multi)).map((r) => r.text));
  // An empty pool falls back to its seed example.
  const seeds = defaultPools();
  return { single: pools.single.length ? [...new Set(pools.single)] : seeds.single, multi: pools.multi.length ? [...new Set(pools.multi)] : seeds.multi };
}

export const register: Register = (program, ctx) => {
  program
    .command("apply-instructions")
    .description("give every SFT dialogue a system instruction from the single- or multi-turn pool matching its turn count")
    .requiredOption("-i, --input <file>", "dialogues (.jsonl/.json/.csv/.parquet, gzip ok)")
    .requiredOption("-o, --output <file>", "dialogues with system instructions, in the format its name says (written atomically)")
    .option("--encoding <enc>", "input text encoding: auto, utf-8, gb18030", "auto")
    .option("--instructions <paths...>", "instruction files or folders from `sfmed augment` (each record names its pool)")
    .option("--single <file>", "single-turn instructions (.txt, one per line, or .jsonl)")
    .option("--multi <file>", "multi-turn instructions (.txt, one per line, or .jsonl)")
    .option("--seed <n>", "random seed of the picks", "0")
    .option("--replace", "replace system messages that dialogues already have (default: keep them)")
    .action(async (o: ApplyFlags) => {
      const c = ctx();
      const seed = intFlag("seed", o.seed);
      const encoding = parseEncoding(o.encoding);
      await requireFile("-i", o.input);
      await guardOutputs({ inputs: { "-i": o.input, "--instructions": o.instructions, "--single": o.single, "--multi": o.multi }, outputs: { "-o": o.output } });
      const pools = await loadPools(o);
      const counts = { single: 0, multi: 0, kept: 0 };
      async function* tally(ds: AsyncIterable<Dialogue>): AsyncGenerator<Dialogue> {
        for await (const d of ds) {
          const pool = d.meta?.instructionPool;
          if (pool === "single" || pool === "multi") counts[pool]++;
          else counts.kept++;
          yield d;
        }
      }
      const input = recordsOnly(readAny(o.input, { kind: "dialogue", onInvalid: "error", encoding })) as AsyncIterable<Dialogue>;
      const { count } = await writeAny(o.output, tally(applyInstructionsStream(input, pools, { seed, existing: o.replace ? "replace" : "keep" })));
      c.info(
        `apply-instructions: ${count} dialogues → ${o.output} (${counts.single} single-turn, ${counts.multi} multi-turn, ${counts.kept} kept their system message; pools ${pools.single.length}/${pools.multi.length})`,
      );
    });
};
