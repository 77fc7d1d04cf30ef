import { describe, expect, it } from "vitest";
import { diversityStats } from "./diversity-stats.js";

describe("diversityStats", () => {
  it("scores identical texts as fully similar and distinct texts as diverse", () => {
    const same = diversityStats(["高血压怎么办？", "高血压怎么办？", "高血压怎么办？"]);
    expect(same.meanPairwiseRougeL).toBe(1);
    expect(same.distinct2).toBeCloseTo(6 / 18);
    const diff = diversityStats(["甲乙丙", "丁戊己", "庚辛壬"]);
    expect(diff.meanPairwiseRougeL).toBe(0);
    expect(diff.distinct1).toBe(1);
    expect(diversityStats([]).sampled).toBe(0);
  });

  it("samples evenly when there are many texts", () => {
    const texts = Array.from({ length: 50 }, (_, i) => `第${i}号问题？`);
    expect(diversityStats(texts, { sample: 10 }).sampled).toBe(10);
  });
});
