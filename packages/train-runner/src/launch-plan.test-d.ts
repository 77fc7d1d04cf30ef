// Type tests of the launch-plan API (vitest project "types").
import { describe, expectTypeOf, it } from "vitest";
import { type DISTRIBUTED_STRATEGIES, type LAUNCHER_KINDS, type LaunchPlan, type LaunchPlanError, type PlanLaunchOptions, planLaunch, type RunJobOptions } from "./index.js";

describe("planLaunch", () => {
  it("takes the launcher and strategy unions and gives runJob's launch settings", () => {
    expectTypeOf<PlanLaunchOptions["launcher"]>().toEqualTypeOf<(typeof LAUNCHER_KINDS)[number] | undefined>();
    expectTypeOf<PlanLaunchOptions["distributed"]>().toEqualTypeOf<(typeof DISTRIBUTED_STRATEGIES)[number] | undefined>();
    expectTypeOf(planLaunch).returns.toEqualTypeOf<LaunchPlan>();
    expectTypeOf<LaunchPlan["launch"]>().toExtend<NonNullable<RunJobOptions["launch"]>>();
    // The trainer never runs DeepSpeed itself: a ZeRO-3 request is planned as FSDP.
    expectTypeOf<LaunchPlan["strategy"]>().toEqualTypeOf<"fsdp" | "ddp" | undefined>();
    expectTypeOf<LaunchPlan["sharding"]>().toEqualTypeOf<"fsdp" | undefined>();
    // @ts-expect-error configDir is required: the config files need a folder
    planLaunch({ launcher: "accelerate" });
  });

  it("LaunchPlanError is an option error by its code", () => {
    expectTypeOf<LaunchPlanError["name"]>().toEqualTypeOf<"LaunchPlanError">();
    expectTypeOf<LaunchPlanError["code"]>().toEqualTypeOf<"BAD_OPTION">();
    expectTypeOf<LaunchPlanError["field"]>().toBeString();
  });
});
