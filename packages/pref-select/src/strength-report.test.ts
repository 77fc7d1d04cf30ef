import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { niceTicks, renderStrengthSvg } from "./strength-plot.js";
import { buildSelectReport } from "./strength-report.js";
import { selectPairs } from "./select-pairs.js";

function pairsFrom(diffs: number[][]) {
  return diffs.map((d, i) => ({ id: `p${String(i).padStart(4, "0")}`, prompt: [{ role: "user" as const, content: "q" }], chosen: "c", rejected: "r", scores: { chosen: d, rejected: d.map(() => 0) } }));
}

describe("buildSelectReport", () => {
  it("bins μ by action and traces σ over μ groups (a U here)", () => {
    // Reward models agree near μ = 0 and disagree at both ends.
    const diffs = Array.from({ length: 200 }, (_, i) => {
      const mu = (i - 100) / 10;
      const spread = 0.5 + Math.abs(mu) / 4;
      return [mu - spread, mu, mu + spread];
    });
    const result = selectPairs({ pairs: pairsFrom(diffs) });
    const r = buildSelectReport({ result, bins: 10, groups: 20 });
    expect(r.histogram).toHaveLength(10);
    expect(r.histogram.reduce((a, b) => a + b.kept + b.flipped + b.dropped, 0)).toBe(200);
    expect(r.histogram[0]).toMatchObject({ flipped: 20, kept: 0 });
    expect(r.histogram[9]).toMatchObject({ dropped: 20, kept: 0 });
    expect(r.groups).toHaveLength(20);
    const sds = r.groups.map((g) => g.meanStd);
    expect(Math.min(...sds)).toBe(Math.min(sds[9]!, sds[10]!));
    expect(Math.max(...sds)).toBe(sds[0]);
    for (let k = 1; k < 10; k++) expect(sds[k]!).toBeLessThan(sds[k - 1]!);
    for (let k = 11; k < 20; k++) expect(sds[k]!).toBeGreaterThan(sds[k - 1]!);
    expect(r.strength).toMatchObject({ min: -10, max: 9.9, negativeShare: 0.5 });
    expect(r.strength.quantiles!["0.5"]).toBeCloseTo(-0.05, 12);
  });

  it("handles an empty selection and a single value", () => {
    const empty = buildSelectReport({ result: selectPairs({ pairs: [] }) });
    expect(empty).toMatchObject({ histogram: [], groups: [], strength: { min: null, quantiles: null } });
    expect(renderStrengthSvg({ report: empty })).toContain("no scored pairs");
    const one = buildSelectReport({ result: selectPairs({ pairs: pairsFrom([[1, 1]]) }), bins: 4 });
    expect(one.histogram.map((b) => b.kept)).toEqual([0, 0, 1, 0]);
  });

  test.prop([fc.array(fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 2, maxLength: 2 }), { maxLength: 120 }), fc.integer({ min: 1, max: 40 })])(
    "histogram and groups account for every pair",
    (diffs, bins) => {
      const r = buildSelectReport({ result: selectPairs({ pairs: pairsFrom(diffs) }), bins });
      const n = diffs.length;
      expect(r.histogram.reduce((a, b) => a + b.kept + b.flipped + b.dropped, 0)).toBe(n);
      expect(r.groups.reduce((a, g) => a + g.count, 0)).toBe(n);
      for (const act of ["kept", "flipped", "dropped"] as const) expect(r.histogram.reduce((a, b) => a + b[act], 0)).toBe(r.summary[act]);
    },
  );
});

describe("renderStrengthSvg", () => {
  it("draws a histogram, points and the group-mean line", () => {
    const diffs = Array.from({ length: 50 }, (_, i) => [i / 5 - 5, i / 5 - 4]);
    const report = buildSelectReport({ result: selectPairs({ pairs: pairsFrom(diffs) }), bins: 8, groups: 5 });
    const svg = renderStrengthSvg({ report, title: "a <b> & c" });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("a &lt;b&gt; &amp; c");
    expect(svg.match(/<circle /g)).toHaveLength(50);
    expect(svg.match(/class="bin /g)!.length).toBeGreaterThanOrEqual(8);
    expect(svg.match(/<polyline class="group-means" points="([^"]*)"/)![1]!.split(" ")).toHaveLength(5);
    expect(svg).not.toContain("NaN");
    expect(renderStrengthSvg({ report, maxPoints: 10 }).match(/<circle /g)).toHaveLength(10);
    // every opened element is closed
    const open = (svg.match(/<(g|svg)[\s>]/g) ?? []).length;
    expect((svg.match(/<\/(g|svg)>/g) ?? []).length).toBe(open);
  });

  it("picks round ticks", () => {
    expect(niceTicks({ lo: 0, hi: 10 })).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks({ lo: -3.2, hi: 7.9 })).toEqual([-2, 0, 2, 4, 6]);
    expect(niceTicks({ lo: 0.001, hi: 0.0042 })).toEqual([0.001, 0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.004]);
    expect(niceTicks({ lo: 1, hi: 1 })).toEqual([1]);
  });
});
