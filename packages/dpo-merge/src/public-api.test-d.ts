// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import { describe, expectTypeOf, it } from "vitest";
import {
  MERGE_METHODS,
  type MergeCheckpointsOptions,
  type MergeInputError,
  type MergeInputErrorCode,
  type MergeMethod,
  type MergeReport,
  type SafetensorsError,
  type SafetensorsErrorCode,
  mergeCheckpoints,
} from "@sfmed/dpo-merge";

describe("merge options", () => {
  it("the method is a literal union, the same as MERGE_METHODS", () => {
    expectTypeOf<MergeMethod>().toEqualTypeOf<"task_arithmetic" | "ties" | "dare_ties" | "dare_linear" | "linear" | "slerp">();
    expectTypeOf(MERGE_METHODS).toEqualTypeOf<readonly ["task_arithmetic", "ties", "dare_ties", "dare_linear", "linear", "slerp"]>();
    expectTypeOf<MergeCheckpointsOptions["method"]>().toEqualTypeOf<MergeMethod>();
  });

  it("mergeCheckpoints needs a method and models, and resolves to a report", () => {
    expectTypeOf(mergeCheckpoints).parameter(0).toEqualTypeOf<MergeCheckpointsOptions>();
    expectTypeOf(mergeCheckpoints).returns.toEqualTypeOf<Promise<MergeReport>>();
    expectTypeOf<MergeCheckpointsOptions["models"]>().toEqualTypeOf<string[]>();
    expectTypeOf<{ method: "ties"; base: string; models: string[]; density: number; out: string }>().toExtend<MergeCheckpointsOptions>();
    expectTypeOf<MergeCheckpointsOptions["out"]>().toEqualTypeOf<string>();
    // @ts-expect-error: not a merge method
    mergeCheckpoints({ method: "average", models: [], out: "merged" });
    // @ts-expect-error: `out` is required
    mergeCheckpoints({ method: "linear", models: ["a"] });
    // @ts-expect-error: `models` is required
    mergeCheckpoints({ method: "linear" });
  });
});

describe("errors", () => {
  it("literal names; safetensors errors carry a code from a closed union", () => {
    expectTypeOf<SafetensorsError["name"]>().toEqualTypeOf<"SafetensorsError">();
    expectTypeOf<SafetensorsError["code"]>().toEqualTypeOf<SafetensorsErrorCode>();
    expectTypeOf<"HEADER_TOO_LARGE">().toExtend<SafetensorsErrorCode>();
    expectTypeOf<"SOMETHING_ELSE">().not.toExtend<SafetensorsErrorCode>();
    expectTypeOf<MergeInputError["name"]>().toEqualTypeOf<"MergeInputError">();
    expectTypeOf<MergeInputError["field"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<MergeInputError["code"]>().toEqualTypeOf<MergeInputErrorCode>();
    expectTypeOf<MergeInputErrorCode>().toEqualTypeOf<"BAD_OPTION" | "INPUT_MISMATCH">();
  });
});
