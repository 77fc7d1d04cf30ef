import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { samplePath } from "@sfmed/test-utils";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { PHONE_CONTEXT } from "./pii-context.js";
import type { PiiMatch } from "./pii-types.js";
import { scanPii } from "./scan-pii.js";

/** Every string in every sample file: JSON values walked leaf by leaf (escapes decoded), other files line by line. */
function* sampleTexts(): Generator<{ where: string; text: string }> {
  const root = path.dirname(samplePath("SOURCES.md"));
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const p = path.join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
  for (const file of walk(root)) {
    const rel = path.relative(root, file);
    const bytes = readFileSync(file);
    // The Toyhom raw dialogues are kept in their original GB18030.
    const raw = new TextDecoder(rel.startsWith("toyhom/") && rel.endsWith(".txt") ? "gb18030" : "utf-8").decode(bytes);
    const strings: string[] = [];
    const leaves = (v: unknown): void => {
      if (typeof v === "string") strings.push(v);
      else if (Array.isArray(v)) v.forEach(leaves);
      else if (v && typeof v === "object") Object.values(v).forEach(leaves);
    };
    if (/\.jsonl?$/.test(rel)) {
      try {
        leaves(JSON.parse(raw));
      } catch {
        for (const line of raw.split("\n")) if (line.trim()) leaves(JSON.parse(line));
      }
    } else strings.push(...raw.split("\n"));
    for (const [i, text] of strings.entries()) yield { where: `${rel}#${i}`, text };
  }
}

describe("no false positives in the medical sample data", () => {
  it("finds nothing in medical text (dosages, lab values, dates, record numbers), only two placeholder contacts", () => {
    const hits: Array<{ where: string } & PiiMatch> = [];
    let texts = 0;
    let digitRuns = 0;
    for (const { where, text } of sampleTexts()) {
      texts++;
      digitRuns += (text.match(/\d{6,}/g) ?? []).length;
      for (const m of scanPii(text)) hits.push({ where, ...m });
    }
    expect(texts).toBeGreaterThan(3000);
    // The data really has long digit runs the detectors had to reject.
    expect(digitRuns).toBeGreaterThan(20);
    // The only two findings are real contact data by form, in general-domain (non-medical) dialogues: a customer
    // service chat that spells out a placeholder mobile number after 手机号码, and a placeholder e-mail address.
    // Reporting them is correct; nothing in the medical texts is reported.
    expect(hits.map((h) => `${h.where.split("#")[0]} ${h.kind} ${h.text}`)).toEqual([
      "belle/eval_set.json mobile 13812345678",
      "medicalgpt/Belle_open_source_1k.json email example@example.com",
    ]);
  });
});

describe("context rules on real medical sentences", () => {
  const sentences = [...sampleTexts()]
    .map((t) => t.text)
    // Sentences that already hold a contact word would (rightly) make any nearby number a phone number.
    .filter((t) => t.length > 20 && t.length < 400 && scanPii(t).length === 0 && /[\u4e00-\u9fff]/.test(t) && !PHONE_CONTEXT.some((w) => t.toLowerCase().includes(w)))
    .slice(0, 200);

  test.prop([fc.constantFrom(...sentences), fc.nat(), fc.constantFrom("139", "186", "150", "177", "199"), fc.stringMatching(/^\d{8}$/)])(
    "a phone-like number after a record word is ignored, after a contact word it is found",
    (sentence, at, head, tail) => {
      const chars = Array.from(sentence);
      const i = at % chars.length;
      const put = (s: string) => chars.slice(0, i).join("") + s + chars.slice(i).join("");
      const n = head + tail;
      expect(scanPii(put(`，住院号${n}，`))).toEqual([]);
      expect(scanPii(put(`，剂量${n}mg，`))).toEqual([]);
      expect(scanPii(put(`，联系电话${n}，`)).map((m) => `${m.kind}:${m.text}`)).toEqual([`mobile:${n}`]);
    },
  );
});
