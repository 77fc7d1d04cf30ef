// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import type { Prediction, ReferenceQA } from "@sfmed/schema";
import { describe, expectTypeOf, it } from "vitest";
import {
  type ChoiceExtraction,
  type ChoiceOptions,
  type ChoiceReport,
  type CompareReport,
  type EvalReport,
  type EvalInputError,
  evaluateRouge,
  explainChoice,
  type ExtractChoiceOptions,
  extractChoice,
  type JudgeReport,
  type RougeBatchOptions,
  type RougeCompat,
  type RougeError,
  type RougeLOptions,
  type RougeReport,
  type RougeScore,
  rougeL,
} from "@sfmed/eval-metrics";

describe("reports", () => {
  it("EvalReport narrows by `kind`", () => {
    const report = {} as EvalReport;
    expectTypeOf<EvalReport["kind"]>().toEqualTypeOf<"rouge" | "mc" | "judge" | "compare">();
    switch (report.kind) {
      case "rouge":
        expectTypeOf(report).toEqualTypeOf<RougeReport>();
        expectTypeOf(report.systems[0]!.f).toBeNumber();
        break;
      case "mc":
        expectTypeOf(report).toEqualTypeOf<ChoiceReport>();
        break;
      case "judge":
        expectTypeOf(report).toEqualTypeOf<JudgeReport>();
        expectTypeOf(report.judge).toBeString();
        break;
      case "compare":
        expectTypeOf(report).toEqualTypeOf<CompareReport>();
        break;
      default:
        expectTypeOf(report).toBeNever();
    }
  });
});

describe("ROUGE-L options", () => {
  it("rougeL takes two strings and optional RougeLOptions, and returns a RougeScore", () => {
    expectTypeOf(rougeL).parameters.toEqualTypeOf<[candidate: string, reference: string, options?: RougeLOptions]>();
    expectTypeOf(rougeL).returns.toEqualTypeOf<RougeScore>();
    expectTypeOf<RougeLOptions["empty"]>().toEqualTypeOf<"zero" | "throw" | undefined>();
    expectTypeOf<RougeCompat>().toExtend<NonNullable<RougeLOptions["compat"]>>();
    expectTypeOf<{ compat: "rouge-chinese"; empty: "throw" }>().toExtend<RougeLOptions>();
    // @ts-expect-error: `empty` is "zero" or "throw"
    rougeL("a", "b", { empty: "skip" });
  });

  it("evaluateRouge takes references, predictions and batch options (ROUGE-L options and threads)", () => {
    expectTypeOf(evaluateRouge).parameter(0).toEqualTypeOf<readonly ReferenceQA[]>();
    expectTypeOf(evaluateRouge).parameter(1).toEqualTypeOf<Iterable<Prediction>>();
    expectTypeOf<RougeBatchOptions>().toExtend<RougeLOptions>();
    expectTypeOf(evaluateRouge).returns.resolves.toHaveProperty("report").toEqualTypeOf<RougeReport>();
  });
});

describe("choice extraction", () => {
  it("extractChoice returns letters; explainChoice names the deciding rule", () => {
    expectTypeOf(extractChoice).parameters.toEqualTypeOf<[response: string, options: ChoiceOptions, opts?: ExtractChoiceOptions]>();
    expectTypeOf(extractChoice).returns.toEqualTypeOf<string[]>();
    expectTypeOf(explainChoice).returns.toEqualTypeOf<ChoiceExtraction>();
    expectTypeOf<ChoiceExtraction["rule"]>().toEqualTypeOf<"anchor" | "verdict" | "leading" | "content" | "conclusion" | "single-letter" | "none">();
    // Options may be partial records (schema's choice questions leave unused letters undefined).
    expectTypeOf<{ A: string; B?: string }>().toExtend<ChoiceOptions>();
    // @ts-expect-error: `multiple` is a boolean
    extractChoice("C", { A: "a", C: "c" }, { multiple: "yes" });
  });
});

describe("errors", () => {
  it("literal names and typed codes", () => {
    expectTypeOf<RougeError["name"]>().toEqualTypeOf<"RougeError">();
    expectTypeOf<RougeError["code"]>().toEqualTypeOf<"EMPTY_CANDIDATE" | "EMPTY_REFERENCE" | "BAD_INPUT" | "POOL_CLOSED">();
    expectTypeOf<EvalInputError["name"]>().toEqualTypeOf<"EvalInputError">();
    expectTypeOf<EvalInputError["code"]>().toBeString();
  });
});
