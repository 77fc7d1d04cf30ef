import { describe, expect, it } from "vitest";
import { isLandlineNumber } from "./landline-number.js";
import { scanPii } from "./scan-pii.js";

const kinds = (t: string) => scanPii(t).map((m) => `${m.kind}:${m.text}`);

describe("landline numbers", () => {
  it("finds area code + local number in common formats", () => {
    expect(kinds("电话010-62345678")).toEqual(["landline:010-62345678"]);
    expect(kinds("（0571）88886666")).toEqual(["landline:（0571）88886666"]);
    expect(kinds("(020)87654321转123")).toEqual(["landline:(020)87654321转123"]);
    expect(kinds("+86 755-2345678")).toEqual([]); // +86 drops the trunk 0: not an area code form we accept
    expect(kinds("座机 075523456789")).toEqual(["landline:075523456789"]);
  });

  it("validates whole values", () => {
    expect(isLandlineNumber("010-62345678")).toBe(true);
    expect(isLandlineNumber("0571 8888666")).toBe(true);
    expect(isLandlineNumber("010-12345678")).toBe(false); // local numbers never start with 1
    expect(isLandlineNumber("62345678")).toBe(false);
  });

  it("ignores dates, times, ranges and bare digit runs without context", () => {
    expect(kinds("2020-05-12 08:30 复查")).toEqual([]);
    expect(kinds("参考值0.3-1.2")).toEqual([]);
    expect(kinds("05712345678")).toEqual([]); // bare: score 0.3 < 0.5
    expect(kinds("病案号0571-23456789")).toEqual([]);
  });
});
