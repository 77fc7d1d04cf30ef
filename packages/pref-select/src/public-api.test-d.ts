// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import type { PreferencePair } from "@sfmed/schema";
import { describe, expectTypeOf, it } from "vitest";
import {
  type CheckpointMismatchError,
  type ModelCallError,
  type OptionError,
  type PrefSelectError,
  type SelectAction,
  type SelectOptions,
  type SelectResult,
  type StrengthRow,
  type VoteOptions,
  selectPairs,
} from "@sfmed/pref-select";

describe("selection options", () => {
  it("selectPairs takes SelectOptions and returns the kept, dropped and rejected pairs", () => {
    expectTypeOf(selectPairs).parameter(0).toEqualTypeOf<SelectOptions>();
    expectTypeOf(selectPairs).returns.toEqualTypeOf<SelectResult>();
    expectTypeOf<SelectResult["pairs"]>().toEqualTypeOf<PreferencePair[]>();
    expectTypeOf<SelectResult["dropped"]>().toEqualTypeOf<PreferencePair[]>();
    expectTypeOf<SelectOptions["order"]>().toEqualTypeOf<"input" | "strength" | undefined>();
    expectTypeOf<SelectOptions["models"]>().toEqualTypeOf<number | readonly string[] | undefined>();
    selectPairs({ pairs: [], flip: 0.1, drop: 0.1, order: "strength" });
    // @ts-expect-error: `pairs` is required
    selectPairs({ flip: 0.1 });
  });

  it("each row's action is one of three literals", () => {
    expectTypeOf<SelectAction>().toEqualTypeOf<"kept" | "flipped" | "dropped">();
    expectTypeOf<StrengthRow["action"]>().toEqualTypeOf<SelectAction>();
  });

  it("voting needs judges", () => {
    expectTypeOf<VoteOptions>().toHaveProperty("judges");
    expectTypeOf<VoteOptions["seed"]>().toEqualTypeOf<number | undefined>();
  });
});

describe("errors", () => {
  it("subclasses have literal names and share the base's code", () => {
    expectTypeOf<OptionError["name"]>().toEqualTypeOf<"OptionError">();
    expectTypeOf<CheckpointMismatchError["name"]>().toEqualTypeOf<"CheckpointMismatchError">();
    expectTypeOf<ModelCallError["name"]>().toEqualTypeOf<"ModelCallError">();
    expectTypeOf<OptionError>().toExtend<PrefSelectError>();
    expectTypeOf<PrefSelectError["code"]>().toBeString();
  });
});
