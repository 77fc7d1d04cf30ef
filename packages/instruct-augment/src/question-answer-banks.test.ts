import { describe, expect } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { maybeSwap, retain, retainBanks, returnAccepted, sampleStep, splitSeeds } from "./question-answer-banks.js";
import { SeededRandom } from "./seeded-random.js";

const texts = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 60 });
const banksArb = fc.record({ question: texts, answer: texts });

describe("bank mechanics", () => {
  test.prop([texts, fc.integer()])("splitSeeds splits evenly, loses nothing and is deterministic", (seeds, seed) => {
    const b = splitSeeds(seeds, SeededRandom.fromSeed(seed));
    expect(b.question.length - b.answer.length).toBeGreaterThanOrEqual(0);
    expect(b.question.length - b.answer.length).toBeLessThanOrEqual(1);
    expect([...b.question, ...b.answer].sort()).toEqual([...seeds].sort());
    expect(splitSeeds(seeds, SeededRandom.fromSeed(seed))).toEqual(b);
  });

  test.prop([fc.array(fc.integer(), { maxLength: 80 }), fc.nat(30), fc.nat(30)])(
    "retain keeps exactly the oldest m and newest n, in order",
    (bank, m, n) => {
      const r = retain(bank, m, n);
      expect(r.length).toBe(Math.min(bank.length, m + n));
      if (bank.length > m + n) {
        expect(r.slice(0, m)).toEqual(bank.slice(0, m));
        expect(r.slice(m)).toEqual(bank.slice(bank.length - n));
      } else expect(r).toEqual(bank);
      expect(retain(r, m, n)).toEqual(r);
    },
  );

  test.prop([banksArb, texts, fc.integer()])("returnAccepted appends half of the accepted to each bank", (banks, accepted, seed) => {
    const r = returnAccepted(banks, accepted, SeededRandom.fromSeed(seed));
    const addedQ = r.question.slice(banks.question.length);
    const addedA = r.answer.slice(banks.answer.length);
    expect(r.question.slice(0, banks.question.length)).toEqual(banks.question);
    expect(r.answer.slice(0, banks.answer.length)).toEqual(banks.answer);
    expect(Math.abs(addedQ.length - addedA.length)).toBeLessThanOrEqual(1);
    expect([...addedQ, ...addedA].sort()).toEqual([...accepted].sort());
    if (accepted.length % 2 === 1) expect(addedQ.length > addedA.length).toBe(banks.question.length <= banks.answer.length);
  });

  test.prop([banksArb, fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 10 })])("banks swap exactly every K steps", (banks, step, k) => {
    const r = maybeSwap(banks, step, k);
    const swaps = k > 0 && step % k === 0;
    expect(r).toEqual(swaps ? { question: banks.answer, answer: banks.question } : banks);
  });

  test.prop([banksArb.filter((b) => b.question.length > 0), fc.integer({ min: 0, max: 8 }), fc.integer()])(
    "sampleStep pairs distinct questions with distinct answers and a separate query",
    (banks, shots, seed) => {
      const s = sampleStep(banks, shots, SeededRandom.fromSeed(seed));
      expect(s.questions.length).toBe(s.answers.length);
      expect(s.questions.length).toBe(Math.min(shots, banks.answer.length, banks.question.length - 1));
      expect(new Set(s.questions).size).toBe(s.questions.length);
      expect(new Set(s.answers).size).toBe(s.answers.length);
      for (const q of s.questions) expect(banks.question).toContain(q);
      for (const a of s.answers) expect(banks.answer).toContain(a);
      expect(banks.question).toContain(s.query);
      expect(s.questions).not.toContain(s.query);
      expect(sampleStep(banks, shots, SeededRandom.fromSeed(seed))).toEqual(s);
    },
  );

  test.prop([texts.filter((a) => a.length > 0), fc.integer({ min: 0, max: 8 }), fc.integer()])(
    "with an empty Question Bank the query comes from the Answer Bank, without history",
    (answer, shots, seed) => {
      const s = sampleStep({ question: [], answer }, shots, SeededRandom.fromSeed(seed));
      expect(s.questions).toEqual([]);
      expect(s.answers).toEqual([]);
      expect(answer).toContain(s.query);
    },
  );

  test.prop([banksArb, fc.nat(10), fc.nat(10)])("retainBanks bounds both banks by m + n", (banks, m, n) => {
    const r = retainBanks(banks, m, n);
    expect(r.question.length).toBeLessThanOrEqual(Math.max(m + n, 0));
    expect(r.answer.length).toBeLessThanOrEqual(m + n);
  });

  test.prop([fc.integer(), fc.nat(50)])("a restored RNG state continues the same sequence", (seed, skip) => {
    const a = SeededRandom.fromSeed(seed);
    for (let i = 0; i < skip; i++) a.next();
    const b = SeededRandom.fromState(JSON.parse(JSON.stringify(a.state())));
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});
