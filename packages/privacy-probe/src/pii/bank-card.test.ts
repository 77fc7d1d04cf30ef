import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { luhnCheckDigit, luhnValid, plausibleCardPrefix } from "./bank-card.js";
import { changeDigit, validCard, validResidentId } from "./pii-generators.test-helpers.js";
import { scanPii } from "./scan-pii.js";

describe("bank card", () => {
  it("checks Luhn on known numbers", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(luhnValid("6212262201023557228")).toBe(luhnCheckDigit("621226220102355722") === "8");
    expect(luhnValid("12a4")).toBe(false);
  });

  it("requires a plausible issuer prefix", () => {
    expect(plausibleCardPrefix("6222020200112233445")).toBe(true);
    expect(plausibleCardPrefix("2221000000000009")).toBe(true);
    expect(plausibleCardPrefix("1234567812345670")).toBe(false);
    expect(scanPii("1234567812345670")).toEqual([]); // Luhn-valid, but no issuer starts with 1
  });

  it("finds grouped numbers and raises the score with a context word", () => {
    const body = "621700000000000";
    const card = body + luhnCheckDigit(body);
    const grouped = card.replace(/(\d{4})(?=\d)/g, "$1 ");
    const [plain] = scanPii(`转账到${grouped}即可`);
    expect(plain).toMatchObject({ kind: "bank-card", text: grouped, score: 0.95 });
    expect(scanPii(`${card}`)[0]).toMatchObject({ kind: "bank-card", score: 0.7 });
    // Mixed separators are not a card format.
    expect(scanPii(card.slice(0, 4) + " " + card.slice(4, 8) + "-" + card.slice(8))).toEqual([]);
  });

  it("drops numbers after a record word or before a unit", () => {
    const body = "621700000000000";
    const card = body + luhnCheckDigit(body);
    expect(scanPii(`样本编号${card}`)).toEqual([]);
    expect(scanPii(`${card}元`)).toEqual([]);
  });

  test.prop([validCard([16, 17, 18, 19])])("a generated valid card is found", (card) => {
    const found = scanPii(`请汇款至卡号${card}，谢谢`);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ kind: "bank-card", text: card });
  });

  test.prop([validCard([16, 17, 19]), fc.nat(), fc.integer({ min: 1, max: 9 })])("one changed digit is not found", (card, pos, delta) => {
    const bad = changeDigit(card, pos, delta);
    expect(luhnValid(bad)).toBe(false);
    expect(scanPii(`卡号${bad}`)).toEqual([]);
  });

  test.prop([validCard([18]), fc.nat(), fc.integer({ min: 1, max: 9 })])("an 18-digit card with one changed digit is never a card", (card, pos, delta) => {
    expect(scanPii(changeDigit(card, pos, delta)).filter((m) => m.kind === "bank-card")).toEqual([]);
  });

  test.prop([validResidentId])("a resident ID is never reported as a card", (id) => {
    expect(scanPii(id).map((m) => m.kind)).toEqual(["resident-id"]);
  });
});
