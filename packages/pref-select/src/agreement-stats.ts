import { fleissKappa } from "./fleiss-kappa.js";
import type { JudgeVerdict } from "./tally-votes.js";

/** Per-judge behaviour across a vote. */
export interface JudgeStats {
  judge: string;
  valid: number;
  invalid: number;
  /** Share of decided sets where this judge picked the final chosen response (null when none decided). */
  agreesWithMajority: number | null;
  /** How often the judge picked the response shown first, second, …: a position-bias check. */
  picksByPosition: number[];
}

export interface AgreementStats {
  /** Fleiss' kappa over sets where every judge gave a valid pick (categories: original response index). */
  fleissKappa: number | null;
  /** Sets that entered kappa. */
  kappaItems: number;
  /** Share of judge pairs (both valid) that picked the same response. */
  pairwiseAgreement: number | null;
  /** Share of sets where all judges gave the same valid pick. */
  unanimous: number | null;
  judges: JudgeStats[];
}

/**
 * Agreement among the judges of a vote. `items[i]` holds set i's verdicts in judge order and `chosen[i]` the
 * final chosen index (or null when the set was dropped).
 */
export function agreementStats(params: {
  items: readonly (readonly JudgeVerdict[])[];
  chosen: readonly (number | null)[];
  judges: readonly string[];
}): AgreementStats {
  const { items, chosen, judges } = params;
  const k = judges.length;
  const stats: JudgeStats[] = judges.map((judge) => ({ judge, valid: 0, invalid: 0, agreesWithMajority: null, picksByPosition: [] }));
  const agree = new Array<number>(k).fill(0);
  const decided = new Array<number>(k).fill(0);
  const rows: number[][] = [];
  let pairs = 0;
  let same = 0;
  let unanimous = 0;
  items.forEach((vs, i) => {
    const picks = vs.map((v) => v.pick);
    vs.forEach((v, j) => {
      const s = stats[j]!;
      if (v.pick === null) {
        s.invalid++;
        return;
      }
      s.valid++;
      const pos = v.order.indexOf(v.pick);
      while (s.picksByPosition.length <= pos) s.picksByPosition.push(0);
      s.picksByPosition[pos]! += 1;
      const c = chosen[i];
      if (c !== null && c !== undefined) {
        decided[j]! += 1;
        if (v.pick === c) agree[j]! += 1;
      }
    });
    const validPicks = picks.filter((p): p is number => p !== null);
    for (let a = 0; a < validPicks.length; a++) for (let b = a + 1; b < validPicks.length; b++) (pairs++, validPicks[a] === validPicks[b] && same++);
    if (validPicks.length === k && k > 0) {
      if (validPicks.every((p) => p === validPicks[0])) unanimous++;
      const row: number[] = [];
      for (const p of validPicks) {
        while (row.length <= p) row.push(0);
        row[p]! += 1;
      }
      rows.push(row);
    }
  });
  stats.forEach((s, j) => (s.agreesWithMajority = decided[j] ? agree[j]! / decided[j]! : null));
  return {
    fleissKappa: k >= 2 && rows.length > 0 ? fleissKappa({ counts: rows }).kappa : null,
    kappaItems: k >= 2 ? rows.length : 0,
    pairwiseAgreement: pairs ? same / pairs : null,
    unanimous: items.length ? unanimous / items.length : null,
    judges: stats,
  };
}
