// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import type { Dialogue } from "@sfmed/schema";
import { describe, expectTypeOf, it } from "vitest";
import { type DedupError, type DedupOptions, type DedupResult, type KeepPolicy, type VerifyMode, dedup } from "@sfmed/dedup";

describe("dedup options", () => {
  it("callbacks receive the caller's record type", () => {
    expectTypeOf(dedup<Dialogue>).parameter(1).toEqualTypeOf<DedupOptions<Dialogue> | undefined>();
    expectTypeOf<NonNullable<DedupOptions<Dialogue>["text"]>>().parameters.toEqualTypeOf<[record: Dialogue, index: number]>();
    expectTypeOf<NonNullable<DedupOptions<Dialogue>["source"]>>().returns.toEqualTypeOf<string | undefined>();
    dedup([{ id: "1", body: "x" }], { text: (r) => r.body, threshold: 0.8, numPerm: 128, perSource: true });
    // @ts-expect-error: the record has no `content`
    dedup([{ id: "1", body: "x" }], { text: (r) => r.content });
  });

  it("literal option unions", () => {
    expectTypeOf<VerifyMode>().toEqualTypeOf<"exact" | "estimate" | "none">();
    expectTypeOf<"first">().toExtend<KeepPolicy>();
    expectTypeOf<"longest">().toExtend<KeepPolicy>();
    expectTypeOf<DedupOptions<unknown>["verify"]>().toEqualTypeOf<VerifyMode | undefined>();
    // @ts-expect-error: not a verify mode
    dedup([], { verify: "jaccard" });
  });

  it("dedup resolves to a DedupResult with a keep mask", () => {
    expectTypeOf(dedup).returns.toEqualTypeOf<Promise<DedupResult>>();
    expectTypeOf<DedupResult["keep"]>().toEqualTypeOf<Uint8Array>();
  });
});

describe("errors", () => {
  it("DedupError has a literal name and a code callers branch on", () => {
    expectTypeOf<DedupError["name"]>().toEqualTypeOf<"DedupError">();
    expectTypeOf<"BAD_OPTION">().toExtend<DedupError["code"]>();
    expectTypeOf<"INVALID_UTF8">().toExtend<DedupError["code"]>();
    expectTypeOf<DedupError["line"]>().toEqualTypeOf<number | undefined>();
  });
});
