// Real data: the Toyhom Chinese medical dialogue sample (data/samples/toyhom/). The CSV cut holds 9 rows that
// repeat an earlier row exactly, and every one of the 120 questions in the GB18030 block file also appears in
// the CSV cut.
import { isBadRow, readLines, scanCsv } from "@sfmed/schema";
import { samplePath } from "@sfmed/test-utils";
import { beforeAll, describe, expect, it } from "vitest";
import { dedup } from "./dedup.js";

interface QA {
  id: string;
  source: string;
  question: string;
  messages: Array<{ role: "user" | "assistant"; content: string }>;
}

async function readCsv(): Promise<QA[]> {
  const out: QA[] = [];
  for await (const row of scanCsv(samplePath("toyhom/样例_内科5000-6000.utf8.csv"))) {
    if (isBadRow(row)) throw row.error;
    const v = row.value as { title: string; ask: string; answer: string };
    const question = `${v.title},${v.ask}`;
    out.push({ id: `csv-${row.index}`, source: "csv", question, messages: [{ role: "user", content: question }, { role: "assistant", content: v.answer }] });
  }
  return out;
}

/** Blocks of "title,ask\nanswer" separated by blank lines, GB18030-encoded. */
async function readBlocks(): Promise<QA[]> {
  const out: QA[] = [];
  let cur: string[] = [];
  const flush = () => {
    if (cur.length >= 2) {
      const question = cur[0]!;
      const answer = cur.slice(1).join("\n");
      out.push({ id: `txt-${out.length + 1}`, source: "txt", question, messages: [{ role: "user", content: question }, { role: "assistant", content: answer }] });
    }
    cur = [];
  };
  for await (const { text } of readLines(samplePath("toyhom/内科.txt"), { encoding: "gb18030" })) {
    if (text.trim() === "") flush();
    else cur.push(text);
  }
  flush();
  return out;
}

describe("Toyhom sample", () => {
  let csv: QA[] = [];
  let txt: QA[] = [];
  beforeAll(async () => {
    csv = await readCsv();
    txt = await readBlocks();
  });

  it("finds the CSV's exact-duplicate rows", async () => {
    expect(csv).toHaveLength(300);
    const r = await dedup(csv, { threads: 0 });
    const firstOf = new Map<string, number>();
    const repeats: number[] = [];
    csv.forEach((q, i) => {
      const key = JSON.stringify(q.messages);
      const f = firstOf.get(key);
      if (f === undefined) firstOf.set(key, i);
      else {
        repeats.push(i);
        expect(r.cluster[i]).toBe(r.cluster[f]);
        expect(r.keep[f]).toBe(1);
      }
    });
    expect(repeats).toHaveLength(9);
    for (const i of repeats) expect(r.keep[i]).toBe(0);
    expect(r.report.counts.removed).toBeGreaterThanOrEqual(9);
  });

  it("finds the questions shared between the CSV and the block file", async () => {
    expect(txt).toHaveLength(120);
    const all = [...csv, ...txt];
    const r = await dedup(all, { threads: 0, perSource: true, text: (q) => q.question });
    const csvByQuestion = new Map<string, number>();
    csv.forEach((q, i) => csvByQuestion.has(q.question) || csvByQuestion.set(q.question, i));
    let shared = 0;
    txt.forEach((q, k) => {
      const j = csv.length + k;
      const i = csvByQuestion.get(q.question);
      if (i === undefined) return;
      shared++;
      expect(r.cluster[j]).toBe(r.cluster[i]);
      expect(r.keep[j]).toBe(0);
    });
    expect(shared).toBe(120);
    expect(r.report.perSource.txt!.removedAcrossSources).toBe(120);
    expect(r.report.perSource.csv!.removedWithinSource).toBeGreaterThanOrEqual(9);
  });

  it("matches whole dialogues across the files too (same answers, different punctuation and layout)", async () => {
    const r = await dedup([...csv, ...txt], { threads: 0 });
    expect(r.report.perSource.txt!.kept).toBe(0);
  });
});
