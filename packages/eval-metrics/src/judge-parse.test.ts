import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parseJudgment } from "./judge-parse.js";
import { cmbClinRubric, overallRubric } from "./judge-rubric.js";

const overall = overallRubric();
const clin = cmbClinRubric();

describe("parseJudgment", () => {
  it("reads [[x]] and takes the last one", () => {
    expect(parseJudgment("The answer is mostly right. Rating: [[8]]", overall)).toEqual({ overall: 8 });
    expect(parseJudgment('Format: "[[rating]]", e.g. [[5]]. My verdict: [[7.5]]', overall)).toEqual({ overall: 7.5 });
    expect(parseJudgment("评分：[[９]]", overall)).toEqual({ overall: 9 });
  });

  it("reads Chinese and English score lines", () => {
    expect(parseJudgment("回答基本正确，但遗漏了用药禁忌。\n评分：8", overall)).toEqual({ overall: 8 });
    expect(parseJudgment("得分：6分", overall)).toEqual({ overall: 6 });
    expect(parseJudgment("Score: 7/10", overall)).toEqual({ overall: 7 });
    expect(parseJudgment("Overall rating is [6].", overall)).toEqual({ overall: 6 });
  });

  it("reads JSON with curly quotes for multi-dimension rubrics", () => {
    expect(parseJudgment("{‘fluency’: 3, ‘relevance’: 4, ‘completeness’: 2, ‘proficiency’: 5}", clin)).toEqual({ fluency: 3, relevance: 4, completeness: 2, proficiency: 5 });
    expect(parseJudgment('```json\n{"fluency": "4", "relevance": 4, "completeness": 3, "proficiency in medicine": 4,}\n```', clin)).toEqual({ fluency: 4, relevance: 4, completeness: 3, proficiency: 4 });
    expect(parseJudgment("Fluency: 4\nRelevance: 5\n完整性：3\n专业性：4", clin)).toEqual({ fluency: 4, relevance: 5, completeness: 3, proficiency: 4 });
  });

  it("returns undefined rather than a default when a score is missing or out of range", () => {
    expect(parseJudgment("I think it is a good answer.", overall)).toBeUndefined();
    expect(parseJudgment("Rating: [[11]]", overall)).toBeUndefined();
    expect(parseJudgment('{"fluency": 3, "relevance": 4}', clin)).toBeUndefined();
    expect(parseJudgment("<think>评分：3</think>No score here.", overall)).toBeUndefined();
  });

  test.prop([fc.integer({ min: 1, max: 10 }), fc.constantFrom("Rating: [[%]]", "评分：%", "{“score”: %}", "得分：%分", "[[%]]\n")])(
    "round-trips any in-range score in any supported format",
    (x, fmt) => {
      expect(parseJudgment(`The answer misses one contraindication. ${fmt.replace("%", String(x))}`, overall)).toEqual({ overall: x });
    },
  );
});
