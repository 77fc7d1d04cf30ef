import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { isMobileNumber } from "./mobile-number.js";
import { scanPii } from "./scan-pii.js";

const kinds = (t: string) => scanPii(t).map((m) => `${m.kind}:${m.text}`);

describe("mobile numbers", () => {
  it("finds the usual ways of writing them", () => {
    expect(kinds("手机13800138000")).toEqual(["mobile:13800138000"]);
    expect(kinds("请拨打 +86 138-0013-8000 联系")).toEqual(["mobile:+86 138-0013-8000"]);
    expect(kinds("电话008619912345678")).toEqual(["mobile:008619912345678"]);
    expect(kinds("138 0013 8000")).toEqual(["mobile:138 0013 8000"]);
    expect(kinds("我的号是16612345678啊")).toEqual(["mobile:16612345678"]);
  });

  it("rejects unallocated segments, wrong lengths and numbers inside longer runs", () => {
    expect(isMobileNumber("12012345678")).toBe(false);
    expect(isMobileNumber("15412345678")).toBe(false);
    expect(kinds("138001380001")).toEqual([]);
    expect(kinds("1380013800")).toEqual([]);
    expect(kinds("AB13800138000")).toEqual([]);
    expect(kinds("0.13800138000")).toEqual([]);
  });

  it("drops record numbers and quantities", () => {
    expect(kinds("住院号13800138000")).toEqual([]);
    expect(kinds("样本编号：13800138000")).toEqual([]);
    expect(kinds("共13800138000元")).toEqual([]);
    expect(kinds("13800138000次")).toEqual([]);
  });

  test.prop([fc.constantFrom("13", "15", "17", "18", "19"), fc.stringMatching(/^\d{9}$/)])("generated numbers are found after a contact word", (head, tail) => {
    const n = head + tail;
    fc.pre(isMobileNumber(n));
    const found = scanPii(`联系电话：${n}。`);
    expect(found).toEqual([expect.objectContaining({ kind: "mobile", text: n })]);
  });
});
