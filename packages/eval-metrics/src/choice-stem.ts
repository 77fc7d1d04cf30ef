/** What a multiple-choice stem asks for. */
export interface StemKind {
  /** The stem asks for the wrong / excluded option(s): 「不属于……的是」「错误的是」「除外」「不宜」. */
  negated: boolean;
  /** The stem says several answers are expected (多选/哪些/X型题). */
  multiple: boolean;
}

// Negation cues that ask for the wrong option. Only the stem's last clause is read: case descriptions earlier in
// the stem ("不能独立行走，……其治法是") negate symptoms, not the question. Words like 不寐/不足/不利 are not cues.
const NEG_CUE =
  /(?:不属于|不是|不包括|不包含|不正确|不准确|不恰当|不妥|不当|错误|有误|不宜|不会|不能|不应|不可|不需|不必|除外|例外|不符合|不可能|无关|不常见|不出现|不见于|禁用|禁忌|不用于|不适用|except|not|incorrect|false|least)/i;
const MULTI_CUE = /(?:多选|多项选择|不定项|哪些|X型题|select all|all that apply)/i;

/** Classify a question stem. An empty or missing stem is positive and single. */
export function classifyStem(question: string | undefined): StemKind {
  if (!question) return { negated: false, multiple: false };
  const s = question.normalize("NFKC").replace(/[(（]\s*[)）]|_{2,}|\s+$/g, "");
  const clauses = s.split(/[，,。；;:：!！]/).map((c) => c.trim()).filter(Boolean);
  const last = clauses.at(-1) ?? "";
  return { negated: NEG_CUE.test(last), multiple: MULTI_CUE.test(s) };
}
