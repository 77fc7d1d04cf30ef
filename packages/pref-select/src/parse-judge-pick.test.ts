import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parseJudgePick } from "./parse-judge-pick.js";

const pick = (text: string, n = 4) => parseJudgePick({ text, n });

describe("parseJudgePick", () => {
  it.each([
    ["理由：B 更完整。\n[[B]]", 1],
    ["[[a]]", 0],
    ["先说格式 [[A]]……综合来看，结论：[[C]]", 2],
    ["【【Ｂ】】", 1],
    ["［［D］］", 3],
    ["B", 1],
    ["(C).", 2],
    ["回答B", 1],
    ["Answer: D", 3],
    ["The best response is C.", 2],
    ["After weighing both, I prefer B", 1],
    ["最佳回答是A，因为它更安全。", 0],
    ["综上，更好的回答为：C", 2],
    ["<think>maybe [[A]]? no</think>\n[[D]]", 3],
    ["<think>[[A]]</think> The winner is B", 1],
  ])("reads %j", (text, position) => {
    expect(pick(text)).toMatchObject({ ok: true, position });
  });

  it.each([
    ["", "empty judge output"],
    ["<think>[[A]]</think>", "empty judge output"],
    ["Both are fine, it is a close call.", "no verdict found in judge output"],
    ["B is better than A in tone", "no verdict found in judge output"],
    ["[[E]]", "verdict E is not one of the 4 candidates"],
    ["The best is a hard call", "no verdict found in judge output"],
  ])("refuses %j", (text, reason) => {
    expect(pick(text)).toEqual({ ok: false, reason });
  });

  const noise = fc.string({ maxLength: 60 }).map((s) => s.replace(/[[\]【】［］]/g, ""));
  test.prop([fc.integer({ min: 2, max: 26 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))), noise, noise])(
    "finds a bracketed verdict anywhere in free text",
    ([n, k], before, after) => {
      const label = String.fromCharCode(65 + k);
      expect(parseJudgePick({ text: `${before}\n[[${label}]]${after}`, n })).toEqual({ ok: true, position: k, label });
    },
  );

  test.prop([fc.string({ maxLength: 200 }), fc.integer({ min: 2, max: 26 })])("never throws and stays in range", (text, n) => {
    const r = parseJudgePick({ text, n });
    if (r.ok) expect(r.position).toBeLessThan(n);
    else expect(r.reason.length).toBeGreaterThan(0);
  });
});
