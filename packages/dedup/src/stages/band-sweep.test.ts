import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { ALL_PAIRS_LIMIT, emitPairs, perSourceEmitter, skipMask } from "./band-sweep.js";

const pairsOf = (members: number[]) => {
  const out: Array<[number, number]> = [];
  emitPairs(Int32Array.from(members), members.length, (x, y) => out.push([x, y]));
  return out;
};

describe("emitPairs", () => {
  test.prop([fc.uniqueArray(fc.nat(1000), { minLength: 2, maxLength: ALL_PAIRS_LIMIT })])("a small bucket gives every pair once, in order", (members) => {
    const want: Array<[number, number]> = [];
    for (let p = 0; p < members.length; p++) for (let q = p + 1; q < members.length; q++) want.push([members[p]!, members[q]!]);
    expect(pairsOf(members)).toEqual(want);
  });

  test.prop([fc.uniqueArray(fc.nat(1000), { minLength: ALL_PAIRS_LIMIT + 1, maxLength: 60 })])(
    "a large bucket pairs every member with the first and its predecessor, which connects them all",
    (members) => {
      const pairs = pairsOf(members);
      expect(pairs.length).toBe(2 * members.length - 3);
      for (let q = 1; q < members.length; q++) expect(pairs).toContainEqual([members[0], members[q]]);
      for (let q = 2; q < members.length; q++) expect(pairs).toContainEqual([members[q - 1], members[q]]);
    },
  );
});

describe("perSourceEmitter", () => {
  it("passes a one-source bucket through and splits a mixed one by source, dropping lone members", () => {
    const sourceOf = [1, 1, 2, 1, 2, 3];
    const seen: number[][] = [];
    const emit = perSourceEmitter(sourceOf, (m, c) => seen.push(Array.from(m.subarray(0, c))));
    emit(Int32Array.of(0, 1, 3), 3);
    emit(Int32Array.of(0, 1, 2, 3, 4, 5), 6);
    expect(seen).toEqual([
      [0, 1, 3],
      [0, 1, 3],
      [2, 4],
    ]);
  });
});

describe("skipMask", () => {
  it("skips empty texts and records removed in the per-source stage", () => {
    expect(Array.from(skipMask(Uint8Array.of(0, 1, 0, 0), Uint8Array.of(1, 1, 0, 1)))).toEqual([0, 1, 1, 0]);
  });
});
