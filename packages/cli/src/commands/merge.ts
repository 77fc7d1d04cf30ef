import { MERGE_METHODS, mergeCheckpoints, type FloatDtype, type MergeMethod, type RescaleMode } from "@sfmed/dpo-merge";
import { isInside, PathCollisionError, resolveRealPath } from "@sfmed/schema";
import { UsageError } from "../context.js";
import { enumFlag, numberFlag } from "../flags.js";
import { createProgress, type Progress } from "../progress.js";
import { resolveModelArg } from "./hub-inputs.js";
import type { Register } from "./index.js";

interface MergeFlags {
  method: string;
  base?: string;
  models: string[];
  weights?: string[];
  density?: string;
  t?: string;
  normalize?: boolean;
  lambda?: string;
  rescale?: string;
  seed: string;
  outDtype?: string;
  maxShardBytes?: string;
  chunkElements?: string;
  overwrite?: boolean;
  output: string;
}

export const register: Register = (program, ctx) => {
  program
    .command("merge")
    .description("merge safetensors checkpoints tensor by tensor (task arithmetic, TIES, DARE, linear, SLERP) with bounded memory")
    .requiredOption("--method <method>", `one of ${MERGE_METHODS.join(", ")}`)
    .option("--base <dir>", "base checkpoint folder or Hub model id ORG/NAME[@REV] (required except for linear; the t=0 end for slerp)")
    .requiredOption("--models <dirs...>", "checkpoints to merge: folders or Hub model ids (one for slerp)")
    .option("--weights <w...>", "one weight per model (default 1 each)")
    .option("--density <d>", "kept fraction: by magnitude for ties, Bernoulli keep-probability for dare_* (default 1)")
    .option("--t <t>", "slerp interpolation factor (default 0.5)")
    .option("--normalize", "divide by the (agreeing) weight sum (default for ties and linear)")
    .option("--no-normalize", "do not divide by the weight sum")
    .option("--lambda <x>", "scale of the merged task vector (default 1)")
    .option("--rescale <mode>", "rescale of the kept deltas: inverse_keep (DARE default), l1 (DARE and TIES; mergekit's rescale: true) or none")
    .option("--seed <n>", "seed of the DARE masks", "0")
    .option("--out-dtype <dtype>", "F32, F16 or BF16 (default: each tensor's own dtype)")
    .option("--max-shard-bytes <n>", "start a new output shard past this size (default 5e9)")
    .option("--chunk-elements <n>", "elements streamed per chunk (default 1048576)")
    .option("--overwrite", "replace an existing output folder")
    .requiredOption("-o, --output <dir>", "output checkpoint folder (written atomically)")
    .action(async (flags: MergeFlags) => {
      const c = ctx();
      const method = enumFlag<MergeMethod>("--method", flags.method, MERGE_METHODS, { expected: `one of ${MERGE_METHODS.join(", ")}` });
      // The output folder must not be (or lie inside, or contain) a checkpoint being read.
      for (const [flag, dir] of [["--base", flags.base], ...flags.models.map((m) => ["--models", m] as const)] as const) {
        if (dir !== undefined && (isInside(dir, flags.output) || isInside(flags.output, dir))) {
          throw new PathCollisionError(["-o", flag], [flags.output, dir], resolveRealPath(flags.output), "input");
        }
      }
      const weights = flags.weights?.map((w) => numberFlag("--weights", w));
      if (weights && weights.length !== flags.models.length) {
        throw new UsageError(`--weights has ${weights.length} values for ${flags.models.length} models`);
      }
      // ORG/NAME[@REV] checkpoints come from the Hub (weights, config, tokenizer) through the HF cache.
      const base = flags.base === undefined ? undefined : await resolveModelArg(flags.base, c.quiet);
      const models: string[] = [];
      for (const m of flags.models) models.push(await resolveModelArg(m, c.quiet));
      let bar: Progress | undefined;
      const report = await mergeCheckpoints({
        method,
        base,
        models,
        weights,
        density: numberFlag("--density", flags.density),
        t: numberFlag("--t", flags.t),
        normalize: flags.normalize,
        lambda: numberFlag("--lambda", flags.lambda),
        rescale: enumFlag<RescaleMode>("--rescale", flags.rescale, ["inverse_keep", "l1", "none"]),
        seed: numberFlag("--seed", flags.seed),
        outDtype: enumFlag<FloatDtype>("--out-dtype", flags.outDtype, ["F32", "F16", "BF16"]),
        maxShardBytes: numberFlag("--max-shard-bytes", flags.maxShardBytes),
        chunkElements: numberFlag("--chunk-elements", flags.chunkElements),
        overwrite: flags.overwrite,
        out: flags.output,
        onProgress: (p) => {
          bar ??= createProgress({ label: "merge", total: Math.round(p.bytesTotal / 1e6), unit: "MB", quiet: c.quiet });
          bar.update(Math.round(p.bytesDone / 1e6), { tensor: `${p.tensorsDone}/${p.tensorsTotal}` });
        },
      });
      bar?.stop();
      c.info(
        `merged ${report.tensors} tensors (${(report.bytesWritten / 1e9).toFixed(3)} GB, ${report.copied.length} copied, ` +
          `${report.carriedFiles.length} files carried over) with ${method} in ${report.seconds.toFixed(1)}s → ${report.out}`,
      );
    });
};
