import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { LETTERS } from "../records.js";
import { parseAnswer, parseAnswerValue, parseOptionList, parseOptions } from "./choice-helpers.js";
import type { RowContext } from "./converter.js";

const ctx: RowContext<undefined> = {
  file: "f.csv",
  stem: "f",
  parent: "",
  line: 2,
  index: 1,
  tag: undefined,
  fail(reason, field) {
    throw new Error(`${field}: ${reason}`);
  },
};
const optionText = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }).map((s) => s.replace(/[\r\n\\]/g, "").trim()).filter(Boolean);

describe("choice parsing", () => {
  test.prop([fc.array(optionText, { minLength: 2, maxLength: 10 }), fc.constantFrom(" ", "  ", ".", "、", "．", ": ", ") "), fc.constantFrom("\\n", "\n", "\r\n")])(
    "option lists parse back whatever the letter separator and line separator",
    (texts, sep, nl) => {
      const letters = LETTERS.slice(0, texts.length);
      // a text that starts with a separator character is only unambiguous after whitespace
      const safe = sep.trim() === "" ? texts : texts.map((t) => (/^[\s.、．:：)）]/.test(t) ? `x${t}` : t));
      const raw = letters.map((l, i) => `${l}${sep}${safe[i]}`).join(nl);
      expect(parseOptionList(raw, "Options", ctx)).toEqual(Object.fromEntries(letters.map((l, i) => [l, safe[i]])));
    },
  );

  test.prop([fc.subarray([...LETTERS], { minLength: 1 }), fc.constantFrom("", ",", " ", "、")])("answers are sorted distinct letters", (letters, sep) => {
    const shuffled = [...letters].reverse();
    expect(parseAnswer(shuffled.join(sep).toLowerCase(), "Answer", ctx)).toEqual([...letters].sort());
  });

  test.prop([fc.constantFrom("nan", "", "K", "A1", "是")])("non-letter answers fail naming the field", (raw) => {
    expect(() => parseAnswer(raw, "Answer", ctx)).toThrow(/^Answer: answer/);
  });

  test.prop([fc.array(optionText, { minLength: 2, maxLength: 10 }), fc.array(fc.constantFrom(null, "", " "), { maxLength: 3 })])(
    "options parse the same from a letter-keyed object, a list, {key, value} items, JSON text and line text; empty slots drop",
    (texts, blanks) => {
      const letters = LETTERS.slice(0, texts.length);
      const want = Object.fromEntries(letters.map((l, i) => [l, texts[i]]));
      // empty slots after the real options, as CMB's option objects and the Hub's A–F columns have them
      const free = LETTERS.slice(texts.length);
      const withBlanks = { ...want, ...Object.fromEntries(blanks.slice(0, free.length).map((b, i) => [free[i], b])) };
      const shapes: unknown[] = [
        withBlanks,
        texts,
        texts.map((t, i) => `${letters[i]}. ${t}`),
        letters.map((l, i) => ({ key: l, value: texts[i] })),
        JSON.stringify(want),
        letters.map((l, i) => `${l} ${texts[i]}`).join("\n"),
      ];
      for (const shape of shapes) expect(parseOptions(shape, "option", ctx)).toEqual(want);
    },
  );

  test.prop([fc.constantFrom<unknown>({ K: "x", A: "y" }, { A: ["x"], B: "y" }, 42, undefined, "{not json", new Array(11).fill("x"))])(
    "malformed options fail naming the field",
    (raw) => {
      expect(() => parseOptions(raw, "option", ctx)).toThrow(/^option: /);
    },
  );

  test.prop([fc.subarray([...LETTERS], { minLength: 1 })])("answers given as a list of letters equal the same letters as text", (letters) => {
    expect(parseAnswerValue([...letters].reverse(), "answer", ctx)).toEqual(parseAnswer(letters.join(""), "answer", ctx));
    expect(() => parseAnswerValue([], "answer", ctx)).toThrow(/^answer: /);
    expect(() => parseAnswerValue(3, "answer", ctx)).toThrow(/^answer: /);
  });
});
