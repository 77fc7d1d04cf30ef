import type { SeededRandom } from "./seeded-random.js";

/**
 * The two instruction banks of the augmentation loop. Each bank is ordered oldest → newest: seeds first, then
 * accepted instructions in the order they were returned, which is what the retention rule needs.
 */
export interface Banks {
  question: string[];
  answer: string[];
}

/**
 * Step 1: shuffle the seeds and split them equally, the first half to the Question Bank and the second to the
 * Answer Bank (the Question Bank gets the odd one out).
 */
export function splitSeeds(seeds: readonly string[], rng: SeededRandom): Banks {
  const shuffled = rng.shuffle(seeds);
  const half = Math.ceil(shuffled.length / 2);
  return { question: shuffled.slice(0, half), answer: shuffled.slice(half) };
}

/** What one step shows the model: `shots` question/answer pairs and the current query. */
export interface StepSample {
  questions: string[];
  answers: string[];
  query: string;
}

/**
 * Steps 2–3: draw `shots` instructions from the Question Bank as questions, `shots` from the Answer Bank as
 * answers, and one more from the Question Bank (different from the questions when the bank is large enough) as
 * the current query. Both sides get the same length, the shorter bank deciding. With an empty Question Bank
 * the query comes from the Answer Bank and there is no history.
 * @throws RangeError when both banks are empty
 */
export function sampleStep(banks: Banks, shots: number, rng: SeededRandom): StepSample {
  if (banks.question.length === 0) {
    // Possible after a swap when a run grows from one seed: ask about an answer-bank instruction, no history.
    if (banks.answer.length === 0) throw new RangeError("both banks are empty");
    return { questions: [], answers: [], query: banks.answer[rng.int(banks.answer.length)]! };
  }
  const k = Math.min(shots, banks.answer.length, Math.max(0, banks.question.length - 1));
  const qIdx = rng.sampleIndices(banks.question.length, k + 1);
  const aIdx = rng.sampleIndices(banks.answer.length, k);
  const queryIdx = qIdx.length > k ? qIdx[k]! : rng.int(banks.question.length);
  return {
    questions: qIdx.slice(0, k).map((i) => banks.question[i]!),
    answers: aIdx.map((i) => banks.answer[i]!),
    query: banks.question[queryIdx]!,
  };
}

/**
 * Step 5: return the accepted instructions half to each bank, in a seeded order. With an odd count the extra one
 * goes to the smaller bank (the Question Bank on a tie), so neither bank starves.
 */
export function returnAccepted(banks: Banks, accepted: readonly string[], rng: SeededRandom): Banks {
  const shuffled = rng.shuffle(accepted);
  let toQuestion = Math.floor(shuffled.length / 2);
  if (shuffled.length % 2 === 1 && banks.question.length <= banks.answer.length) toQuestion++;
  return {
    question: [...banks.question, ...shuffled.slice(0, toQuestion)],
    answer: [...banks.answer, ...shuffled.slice(toQuestion)],
  };
}

/**
 * Step 6: keep only the `oldest` first and the `newest` last instructions of a bank (all of it when it is not
 * longer than their sum). Old entries anchor the style of the seeds; new ones keep the prompts moving.
 */
export function retain<T>(bank: readonly T[], oldest: number, newest: number): T[] {
  if (bank.length <= oldest + newest) return [...bank];
  return [...bank.slice(0, oldest), ...bank.slice(bank.length - newest)];
}

/** Step 6 on both banks. */
export function retainBanks(banks: Banks, oldest: number, newest: number): Banks {
  return { question: retain(banks.question, oldest, newest), answer: retain(banks.answer, oldest, newest) };
}

/** Step 7: after every `every`-th step (1-based `step`), the banks trade places. */
export function maybeSwap(banks: Banks, step: number, every: number): Banks {
  if (every > 0 && step % every === 0) return { question: banks.answer, answer: banks.question };
  return banks;
}
