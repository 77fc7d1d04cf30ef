import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { changeDigit, validResidentId } from "./pii-generators.test-helpers.js";
import { isValidResidentId, looksLikeResidentId, residentIdCheckChar } from "./resident-id.js";
import { scanPii } from "./scan-pii.js";

describe("resident ID", () => {
  it("validates the GB 11643 example and its check character", () => {
    expect(residentIdCheckChar("11010519491231002")).toBe("X");
    expect(isValidResidentId("11010519491231002X")).toBe(true);
    expect(isValidResidentId("11010519491231002x")).toBe(true);
    expect(isValidResidentId("110105194912310021")).toBe(false);
  });

  it("rejects impossible birth dates, future births and unknown provinces", () => {
    const withCheck = (b: string) => b + residentIdCheckChar(b);
    expect(isValidResidentId(withCheck("11010519490230002"))).toBe(false); // 30 Feb
    expect(isValidResidentId(withCheck("11010520990101002"), { now: new Date("2026-01-01") })).toBe(false);
    expect(isValidResidentId(withCheck("99010519491231002"))).toBe(false);
    expect(isValidResidentId(withCheck("11010520000229002"))).toBe(true); // leap day
  });

  it("accepts 15-digit legacy IDs only when asked", () => {
    expect(isValidResidentId("110105491231002")).toBe(false);
    expect(isValidResidentId("110105491231002", { legacy: true })).toBe(true);
    expect(scanPii("身份证号110105491231002", { legacyResidentIds: true }).map((m) => m.kind)).toEqual(["resident-id"]);
    // Without a context word a bare 15-digit number is too weak.
    expect(scanPii("单据110105491231002", { legacyResidentIds: true })).toEqual([]);
  });

  test.prop([validResidentId, fc.constantFrom("", "患者身份证号：", "证件 ", "ID:"), fc.constantFrom("", "，请核对。", " end")])(
    "a generated valid ID is found, wherever it sits",
    (id, before, after) => {
      expect(isValidResidentId(id)).toBe(true);
      expect(looksLikeResidentId(id)).toBe(true);
      const found = scanPii(before + id + after);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ kind: "resident-id", start: before.length, text: id, score: 1 });
    },
  );

  // With the ID context word: without it, an 18-digit Luhn-valid number with a card prefix may really be a card.
  test.prop([validResidentId, fc.nat(), fc.integer({ min: 1, max: 9 })])("one changed digit is not found", (id, pos, delta) => {
    const bad = changeDigit(id, pos, delta);
    expect(bad).not.toBe(id);
    expect(isValidResidentId(bad)).toBe(false);
    expect(scanPii(`患者身份证号：${bad}。`)).toEqual([]);
  });
});
