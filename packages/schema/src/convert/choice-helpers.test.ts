import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { LETTERS } from "../records.js";
import { parseAnswer, parseOptionList } from "./choice-helpers.js";
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
});
