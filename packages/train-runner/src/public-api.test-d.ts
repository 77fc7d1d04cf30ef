// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import { describe, expectTypeOf, it } from "vitest";
import {
  type CheckpointEvent,
  dpoJob,
  type JobConfigError,
  type JobValidationError,
  ptJob,
  rmJob,
  sftJob,
  type TrainerEnvError,
  type TrainerEvent,
  type TrainerJob,
  type TrainerRunError,
  parseEventLine,
} from "@sfmed/train-runner";

describe("job builders", () => {
  it("every builder returns a TrainerJob whose stage is one of four literals", () => {
    expectTypeOf<TrainerJob["stage"]>().toEqualTypeOf<"pt" | "sft" | "rm" | "dpo">();
    expectTypeOf(ptJob).returns.toEqualTypeOf<TrainerJob>();
    expectTypeOf(sftJob).returns.toEqualTypeOf<TrainerJob>();
    expectTypeOf(rmJob).returns.toEqualTypeOf<TrainerJob>();
    expectTypeOf(dpoJob).returns.toEqualTypeOf<TrainerJob>();
  });

  it("builders take camelCase parameters and need model, outputDir and train", () => {
    sftJob({ model: "Qwen/Qwen2.5-7B", outputDir: "out/sft", train: "sft.jsonl", cutoffLen: 2048 });
    rmJob({ model: "m", outputDir: "out/rm", train: "pairs.jsonl", numModels: 3 });
    dpoJob({ model: "m", outputDir: "out/dpo", train: "pairs.jsonl", beta: 0.1, lossType: "sigmoid" });
    // @ts-expect-error: `train` is required
    sftJob({ model: "m", outputDir: "out" });
    // @ts-expect-error: the job file's snake_case is not a builder parameter
    sftJob({ model: "m", output_dir: "out", train: "t.jsonl" });
    // @ts-expect-error: not a DPO loss
    dpoJob({ model: "m", outputDir: "o", train: "t", lossType: "kto" });
    expectTypeOf<NonNullable<TrainerJob["dpo"]>["loss_type"]>().toEqualTypeOf<"sigmoid" | "ipo" | "hinge" | "robust" | undefined>();
  });
});

describe("events", () => {
  it("parseEventLine returns a TrainerEvent or undefined; a checkpoint event carries its path", () => {
    expectTypeOf(parseEventLine).returns.toEqualTypeOf<TrainerEvent | undefined>();
    expectTypeOf<CheckpointEvent["path"]>().toBeString();
    expectTypeOf<CheckpointEvent>().toExtend<TrainerEvent>();
  });
});

describe("errors", () => {
  it("literal names; JobConfigError has a closed code union and names the field", () => {
    expectTypeOf<TrainerEnvError["name"]>().toEqualTypeOf<"TrainerEnvError">();
    expectTypeOf<JobValidationError["name"]>().toEqualTypeOf<"JobValidationError">();
    expectTypeOf<TrainerRunError["name"]>().toEqualTypeOf<"TrainerRunError">();
    expectTypeOf<JobConfigError["name"]>().toEqualTypeOf<"JobConfigError">();
    expectTypeOf<JobConfigError["code"]>().toEqualTypeOf<"alpha_steps" | "out_of_range">();
    expectTypeOf<JobConfigError["field"]>().toBeString();
    expectTypeOf<TrainerRunError["exitCode"]>().toEqualTypeOf<number | null>();
  });
});
