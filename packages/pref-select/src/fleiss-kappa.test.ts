import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { fleissKappa } from "./fleiss-kappa.js";

describe("fleissKappa", () => {
  // The standard worked example of Fleiss' kappa (e.g. the Wikipedia article): 10 subjects, 14 raters, 5 categories.
  const textbook = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
  ];

  it("reproduces the textbook example (κ ≈ 0.210)", () => {
    const r = fleissKappa({ counts: textbook });
    expect(r.categoryShares.map((p) => +p.toFixed(3))).toEqual([0.143, 0.2, 0.279, 0.15, 0.229]);
    expect(r.subjectAgreement.map((p) => +p.toFixed(3))).toEqual([1, 0.253, 0.308, 0.44, 0.33, 0.462, 0.242, 0.176, 0.286, 0.286]);
    expect(r.observed).toBeCloseTo(0.378, 3);
    expect(r.expected).toBeCloseTo(0.213, 3);
    expect(r.kappa).toBeCloseTo(0.21, 3);
  });

  it("is 1 under perfect agreement and null when one category takes every rating", () => {
    expect(fleissKappa({ counts: [[3, 0], [0, 3], [3]] }).kappa).toBe(1);
    expect(fleissKappa({ counts: [[3], [3]] }).kappa).toBeNull();
  });

  it("refuses unequal rating counts and single raters", () => {
    expect(() => fleissKappa({ counts: [[2, 1], [1, 1]] })).toThrow(/subject 1 has 2 ratings, expected 3/);
    expect(() => fleissKappa({ counts: [[1, 0]] })).toThrow(RangeError);
    expect(() => fleissKappa({ counts: [] })).toThrow(RangeError);
  });

  const table = fc
    .tuple(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 5 }))
    .chain(([raters, cats]) =>
      fc.array(
        fc.array(fc.integer({ min: 0, max: cats - 1 }), { minLength: raters, maxLength: raters }).map((picks) => {
          const row = new Array<number>(cats).fill(0);
          for (const p of picks) row[p]! += 1;
          return row;
        }),
        { minLength: 1, maxLength: 30 },
      ),
    );

  test.prop([table])("is at most 1, and unchanged by relabelling categories or reordering subjects", (counts) => {
    const a = fleissKappa({ counts });
    const b = fleissKappa({ counts: [...counts].reverse().map((r) => [...r].reverse()) });
    if (a.kappa === null) {
      expect(b.kappa).toBeNull();
    } else {
      expect(a.kappa).toBeLessThanOrEqual(1 + 1e-12);
      expect(b.kappa!).toBeCloseTo(a.kappa, 12);
    }
  });
});
