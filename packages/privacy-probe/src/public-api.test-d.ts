// Type tests of the public API (vitest project "types"): what callers rely on at compile time.
import { describe, expectTypeOf, it } from "vitest";
import { PII_KINDS, type PiiKind, type PiiMatch, type PrivacyProbeError, scanPii } from "@sfmed/privacy-probe";

describe("PII scanning", () => {
  it("kinds are a closed literal union and each match says which", () => {
    expectTypeOf<PiiKind>().toEqualTypeOf<"resident-id" | "mobile" | "landline" | "email" | "bank-card">();
    expectTypeOf(PII_KINDS).toEqualTypeOf<readonly PiiKind[]>();
    expectTypeOf<PiiMatch["kind"]>().toEqualTypeOf<PiiKind>();
    expectTypeOf(scanPii).returns.toEqualTypeOf<PiiMatch[]>();
  });
});

describe("errors", () => {
  it("PrivacyProbeError has a literal name and a string code", () => {
    expectTypeOf<PrivacyProbeError["name"]>().toEqualTypeOf<"PrivacyProbeError">();
    expectTypeOf<PrivacyProbeError["code"]>().toBeString();
  });
});
