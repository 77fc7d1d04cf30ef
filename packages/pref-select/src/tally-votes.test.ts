import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { tallyVotes, type JudgeVerdict } from "./tally-votes.js";

const v = (...picks: (number | null)[]): JudgeVerdict[] => picks.map((pick, j) => ({ judge: `j${j}`, order: [0, 1, 2, 3], pick }));
const base = { id: "x", n: 4, minVotes: 2, seed: 1, rejectedTie: "seeded" as const };

describe("tallyVotes", () => {
  it("takes the majority as chosen and the least-voted as rejected", () => {
    expect(tallyVotes({ ...base, n: 3, verdicts: v(2, 2, 1) })).toEqual({ ok: true, chosen: 2, rejected: 0, votes: [0, 1, 2] });
    expect(tallyVotes({ ...base, n: 2, verdicts: v(1, 1, 0) })).toEqual({ ok: true, chosen: 1, rejected: 0, votes: [1, 2] });
  });

  it("drops ties, too few votes and all-invalid sets with reasons", () => {
    expect(tallyVotes({ ...base, verdicts: v(0, 1, null) })).toMatchObject({ ok: false, reason: "tie for best between responses 0, 1 (1 votes each)" });
    expect(tallyVotes({ ...base, verdicts: v(0, null, null) })).toMatchObject({ ok: false, reason: "best response has 1 of the 2 votes needed" });
    expect(tallyVotes({ ...base, verdicts: v(null, null, null) })).toMatchObject({ ok: false, reason: "no valid judge verdict" });
    expect(tallyVotes({ ...base, rejectedTie: "drop", verdicts: v(0, 0, 1) })).toMatchObject({ ok: false, reason: "tie for rejected between responses 2, 3" });
  });

  it("breaks a tie for rejected by a draw keyed on seed and id", () => {
    const draws = new Set<number>();
    for (let s = 0; s < 40; s++) {
      const t = tallyVotes({ ...base, seed: s, verdicts: v(0, 0, 0) });
      if (!t.ok) throw new Error("expected a pair");
      expect(t.rejected).not.toBe(0);
      draws.add(t.rejected);
      expect(tallyVotes({ ...base, seed: s, verdicts: v(0, 0, 0) })).toEqual(t);
    }
    expect([...draws].sort()).toEqual([1, 2, 3]);
  });

  test.prop([fc.integer({ min: 2, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.array(fc.option(fc.integer({ min: 0, max: n - 1 })), { minLength: 1, maxLength: 7 })))])(
    "chosen has strictly the most votes and rejected the fewest of the rest",
    ([n, picks]) => {
      const t = tallyVotes({ ...base, n, minVotes: 1, verdicts: v(...picks) });
      expect(t.votes.reduce((a, b) => a + b, 0)).toBe(picks.filter((p) => p !== null).length);
      if (!t.ok) return;
      for (let i = 0; i < n; i++) if (i !== t.chosen) expect(t.votes[i]!).toBeLessThan(t.votes[t.chosen]!);
      for (let i = 0; i < n; i++) if (i !== t.chosen) expect(t.votes[t.rejected]!).toBeLessThanOrEqual(t.votes[i]!);
      expect(t.rejected).not.toBe(t.chosen);
    },
  );
});
