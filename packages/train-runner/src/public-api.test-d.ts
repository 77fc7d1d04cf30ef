// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import { describe, expectTypeOf, it } from "vitest";
import {
  type CheckpointEvent,
  type DoneEvent,
  dpoJob,
  isEvent,
  isKnownEvent,
  type KnownEvent,
  type OtherEvent,
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
  type StepEvent,
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

  it("isKnownEvent and isEvent narrow a TrainerEvent; unknown names stay OtherEvent", () => {
    const e = {} as TrainerEvent;
    if (isEvent(e, "step")) {
      expectTypeOf(e).toEqualTypeOf<StepEvent>();
      expectTypeOf(e.step).toBeNumber();
    }
    if (isEvent(e, "checkpoint")) expectTypeOf(e.path).toBeString();
    // @ts-expect-error: only known names
    isEvent(e, "stepp");
    if (isKnownEvent(e)) {
      expectTypeOf(e).toEqualTypeOf<KnownEvent>();
      switch (e.event) {
        case "checkpoint":
          expectTypeOf(e).toEqualTypeOf<CheckpointEvent>();
          break;
        case "done":
          expectTypeOf(e).toEqualTypeOf<DoneEvent>();
          break;
        case "step":
          expectTypeOf(e).toEqualTypeOf<StepEvent>();
          break;
        case "start":
        case "eval":
        case "error":
        case "ready":
          break;
        default:
          expectTypeOf(e).toBeNever();
      }
    } else {
      expectTypeOf(e).toEqualTypeOf<OtherEvent>();
      expectTypeOf(e.event).toBeString();
    }
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
