import { describe, expect, it } from "vitest";
import { corpus } from "../test/texts.js";
import { LshIndex } from "./lsh-index.js";
import { MinHasher } from "./minhasher.js";

describe("LshIndex", () => {
  it("finds near-duplicates and not unrelated texts", () => {
    const h = new MinHasher();
    const idx = new LshIndex({ bands: 18, rows: 6 });
    const base = "患者男性，五十岁，反复胸闷气短三年，活动后加重，夜间不能平卧，双下肢水肿一周。";
    idx.insert(1, h.signature(base));
    idx.insert(2, h.signature("今天天气很好，我们一起去公园散步，然后回家吃饭，晚上看电视。"));
    expect(idx.size).toBe(2);
    expect(idx.query(h.signature(base.replace("五十岁", "五十一岁")))).toEqual([1]);
    expect(idx.query(h.signature(corpus(1, 1)[0]!))).toEqual([]);
  });
  it("rejects short signatures and bad shapes", () => {
    expect(() => new LshIndex({ bands: 0, rows: 2 })).toThrow(RangeError);
    expect(() => new LshIndex({ bands: 4, rows: 4 }).insert(0, new Int32Array(8))).toThrow(RangeError);
  });
});
