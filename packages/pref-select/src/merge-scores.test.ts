import { fc, test } from "@fast-check/vitest";
import type { PreferencePair } from "@sfmed/schema";
import { describe, expect, it } from "vitest";
import { mergeScores } from "./merge-scores.js";

const pair = (id: string, extra: Partial<PreferencePair> = {}): PreferencePair => ({ id, prompt: [{ role: "user", content: id }], chosen: "c", rejected: "r", ...extra });

describe("mergeScores", () => {
  it("joins per-model files and trainer-py score output by id", () => {
    const r = mergeScores({
      pairs: [pair("a"), pair("b"), pair("c")],
      sources: [
        { name: "rm1", rows: [{ id: "b", chosen: 1, rejected: 0 }, { id: "a", chosen: 2, rejected: 1 }, { id: "c", chosen: 0, rejected: 0 }] },
        { name: "trainer", rows: [pair("a", { scores: { chosen: [5, 6], rejected: [4, 4], models: ["s1", "s2"] } }), { id: "b", scores: { chosen: [1, 1], rejected: [2, 2], models: ["s1", "s2"] } }, { id: "c", scores: { chosen: [0, 0], rejected: [0, 0] } }] },
        { name: "other", rows: [{ id: "zzz", chosen: 1, rejected: 1 }] },
      ],
    });
    expect(r.models).toEqual(["rm1", "s1", "s2", "trainer#0", "trainer#1", "other"]);
    expect(r.pairs).toEqual([]);
    expect(r.unscored.map((u) => [u.id, u.missing])).toEqual([
      ["a", ["trainer#0", "trainer#1", "other"]],
      ["b", ["trainer#0", "trainer#1", "other"]],
      ["c", ["s1", "s2", "other"]],
    ]);
    expect(r.unmatched).toEqual({ other: 1 });
  });

  it("writes complete score lists in ensemble order", () => {
    const r = mergeScores({
      pairs: [pair("a"), pair("b")],
      sources: [
        { name: "rm1", rows: [{ id: "b", chosen: 1, rejected: 0 }, { id: "a", chosen: 2, rejected: 1 }] },
        { name: "x", rows: [{ id: "a", chosen: 3, rejected: -1, model: "rm2" }, { id: "b", chosen: 0.5, rejected: 0.25, model: "rm2" }] },
      ],
    });
    expect(r.pairs.map((p) => p.scores)).toEqual([
      { chosen: [2, 3], rejected: [1, -1], models: ["rm1", "rm2"] },
      { chosen: [1, 0.5], rejected: [0, 0.25], models: ["rm1", "rm2"] },
    ]);
    expect(r.unscored).toEqual([]);
  });

  it("rejects unreadable rows with file, line and reason", () => {
    const r = mergeScores({
      pairs: [pair("a"), { id: "bad" }],
      pairFile: "pairs.jsonl",
      sources: [
        {
          name: "rm1",
          file: "rm1.jsonl",
          rows: [{ id: "a", chosen: 1, rejected: Number.NaN }, { id: "a", chosen: 1, rejected: 0 }, { id: "a", chosen: 2, rejected: 0 }, { chosen: 1, rejected: 1 }, { id: "q", chosen: "1", rejected: 0 }, { id: "q", scores: { chosen: [1], rejected: [null] } }],
        },
      ],
    });
    expect(r.rejected).toEqual([
      { line: 2, file: "pairs.jsonl", id: "bad", field: "prompt", reason: expect.any(String) },
      { line: 1, file: "rm1.jsonl", id: "a", field: "rejected", reason: "score is not a finite number (NaN)" },
      { line: 3, file: "rm1.jsonl", id: "a", field: "id", reason: "model rm1 scores id a twice" },
      { line: 4, file: "rm1.jsonl", field: "id", reason: "score row needs a string id" },
      { line: 5, file: "rm1.jsonl", id: "q", field: "chosen", reason: "score is not a finite number (1)" },
      { line: 6, file: "rm1.jsonl", id: "q", field: "scores.rejected[0]", reason: "score is not a finite number (null)" },
    ]);
    expect(r.pairs.map((p) => p.scores)).toEqual([{ chosen: [1], rejected: [0], models: ["rm1"] }]);
  });

  it("keeps existing scores first with append", () => {
    const r = mergeScores({ pairs: [pair("a", { scores: { chosen: [9], rejected: [8], models: ["old"] } })], sources: [{ name: "new", rows: [{ id: "a", chosen: 1, rejected: 0 }] }], append: true });
    expect(r.pairs[0]!.scores).toEqual({ chosen: [9, 1], rejected: [8, 0], models: ["old", "new"] });
  });

  test.prop([fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 20 }), fc.integer({ min: 1, max: 4 }), fc.integer()])(
    "every pair comes out either fully scored or listed as unscored, and source row order does not matter",
    (ids, m, seed) => {
      const sources = Array.from({ length: m }, (_, k) => ({
        name: `rm${k}`,
        rows: ids.filter((_, i) => (i * 7 + k * 3 + seed) % 5 !== 0).map((id, i) => ({ id, chosen: i + k, rejected: k - i })),
      }));
      const a = mergeScores({ pairs: ids.map((id) => pair(id)), sources });
      expect(a.pairs.length + a.unscored.length).toBe(ids.length);
      for (const p of a.pairs) expect(p.scores!.chosen).toHaveLength(a.models.length);
      const b = mergeScores({ pairs: ids.map((id) => pair(id)), sources: sources.map((s) => ({ ...s, rows: [...s.rows].reverse() })) });
      expect(b.pairs).toEqual(a.pairs);
    },
  );
});
