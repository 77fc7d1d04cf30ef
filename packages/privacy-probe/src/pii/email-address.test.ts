import { describe, expect, it } from "vitest";
import { isEmailAddress } from "./email-address.js";
import { scanPii } from "./scan-pii.js";

describe("e-mail addresses", () => {
  it("finds addresses next to Chinese text and leaves sentence dots out", () => {
    expect(scanPii("发邮件到zhang.san+med@example.com.cn。谢谢").map((m) => m.text)).toEqual(["zhang.san+med@example.com.cn"]);
    expect(scanPii("联系 a_b@hospital.org.").map((m) => m.text)).toEqual(["a_b@hospital.org"]);
  });

  it("validates whole values", () => {
    expect(isEmailAddress("doctor@example.com")).toBe(true);
    expect(isEmailAddress("doctor@localhost")).toBe(false);
    expect(isEmailAddress("@example.com")).toBe(false);
    expect(isEmailAddress("a@b.c")).toBe(false);
  });
});
