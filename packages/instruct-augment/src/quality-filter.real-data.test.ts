// The filter on real text: open medical questions (Huatuo-Llama-Med) should mostly pass, general-domain
// instructions (BELLE eval set) should mostly fail the professionalism test.
import { describe, expect, it } from "vitest";
import { readSample } from "@sfmed/test-utils";
import { defaultMedicalLexicon, parseLexicon } from "./medical-lexicon.js";
import { checkCandidate, type FilterOptions } from "./quality-filter.js";

function passRate(texts: string[], opts: FilterOptions, lexicon = defaultMedicalLexicon()) {
  let ok = 0;
  const reasons: Record<string, number> = {};
  for (const t of texts) {
    const v = checkCandidate(t, { lexicon, pool: [], seen: new Set() }, opts);
    if (v.ok) ok++;
    else reasons[v.reason] = (reasons[v.reason] ?? 0) + 1;
  }
  return { rate: ok / texts.length, reasons };
}

describe("quality filter on real data", () => {
  const medical = (JSON.parse(readSample("huatuo_llama_med/question.json")) as Array<{ question: string }>).map((r) => r.question);
  const general = readSample("belle/eval_set.json")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { question: string }).question);

  it("passes most medical questions and fails most general instructions", () => {
    expect(medical.length).toBe(200);
    const m = passRate(medical, {});
    expect(m.rate).toBeGreaterThan(0.9);
    // General prompts are often multi-line or unpunctuated: judge only their vocabulary here.
    const g = passRate(general, { requireFinalPunctuation: false, maxChars: 10_000 });
    expect(g.rate).toBeLessThan(0.3);
    expect(g.reasons.unprofessional).toBeGreaterThan(general.length / 2);
  });

  it("a larger lexicon accepts more medical questions than the shipped top 5,000", () => {
    const full = parseLexicon(readSample("thuocl/THUOCL_medical.txt"));
    const strict = { minTerms: 2 };
    expect(passRate(medical, strict, full).rate).toBeGreaterThanOrEqual(passRate(medical, strict).rate);
  });
});
