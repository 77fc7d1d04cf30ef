import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { samplePath, tempDir } from "@sfmed/test-utils";
import { stringify } from "csv-stringify/sync";
import { describe, expect, it } from "vitest";
import { writeJsonArray } from "../io/json-array.js";
import { writeJsonl } from "../io/jsonl.js";
import { LETTERS, type Letter } from "../records.js";
import { ceval } from "./ceval.js";
import { cmbClin } from "./cmb-clin.js";
import { cmexam } from "./cmexam.js";
import { cmmlu } from "./cmmlu.js";
import { cmtmedqa } from "./cmtmedqa.js";
import { huatuo26m } from "./huatuo26m.js";
import { medicalgptReward } from "./medicalgpt-reward.js";
import { toyhom } from "./toyhom.js";
import { all, memorySink } from "./test-helpers.js";

/** Non-empty text without surrounding whitespace (source converters trim), optionally without some characters. */
const clean = (banned = "") =>
  fc
    .string({ unit: "grapheme", minLength: 1, maxLength: 24 })
    .map((s) => [...s].filter((c) => !banned.includes(c)).join("").trim())
    .filter((s) => s.length > 0);

const choiceArb = fc
  .record({ question: clean("\n\r"), n: fc.integer({ min: 2, max: 5 }), opts: fc.array(clean("\n\r\\"), { minLength: 5, maxLength: 5 }), pick: fc.array(fc.nat(4), { minLength: 1, maxLength: 4 }) })
  .map(({ question, n, opts, pick }) => {
    const letters = LETTERS.slice(0, n) as Letter[];
    const options = Object.fromEntries(letters.map((l, i) => [l, opts[i]!])) as Partial<Record<Letter, string>>;
    const answer = [...new Set(pick.map((p) => letters[p % n]!))].sort();
    return { question, options, answer };
  });

describe("source converters: round trips", () => {
  test.prop([fc.array(choiceArb, { minLength: 1, maxLength: 15 })], { numRuns: 30 })("cmexam CSV with literal \\n option separators", async (qs) => {
    const dir = await tempDir();
    const file = path.join(dir, "val.csv");
    const rows = qs.map((q) => [q.question, Object.entries(q.options).map(([l, t]) => `${l} ${t}`).join("\\n"), q.answer.join(""), "解析"]);
    await writeFile(file, stringify(rows, { header: true, columns: ["Question", "Options", "Answer", "Explanation"] }));
    const got = await all(cmexam.from(file));
    expect(got.map((g) => ({ question: g.question, options: g.options, answer: g.answer }))).toEqual(qs);
    expect(got.map((g) => g.id)).toEqual(qs.map((_, i) => `cmexam:val:${i + 1}`));
  });

  test.prop([fc.array(choiceArb.filter((q) => Object.keys(q.options).length === 4 && q.answer.length === 1), { minLength: 1, maxLength: 8 })], { numRuns: 20 })(
    "cmmlu and ceval directories: one subject per file, split from the folder",
    async (qs) => {
      const dir = await tempDir();
      await mkdir(path.join(dir, "cmmlu", "test"), { recursive: true });
      await mkdir(path.join(dir, "ceval", "val"), { recursive: true });
      const cells = (q: (typeof qs)[number]) => [q.question, q.options.A, q.options.B, q.options.C, q.options.D, q.answer[0]];
      await writeFile(path.join(dir, "cmmlu", "test", "anatomy.csv"), stringify(qs.map((q, i) => [String(i), ...cells(q)]), { header: true, columns: ["", "Question", "A", "B", "C", "D", "Answer"] }));
      await writeFile(path.join(dir, "ceval", "val", "physician_val.csv"), stringify(qs.map((q, i) => [String(i), ...cells(q)]), { header: true, columns: ["id", "question", "A", "B", "C", "D", "answer"] }));
      for (const [conv, sub, subject] of [[cmmlu, "cmmlu", "anatomy"], [ceval, "ceval", "physician"]] as const) {
        const got = await all(conv.from(path.join(dir, sub)));
        expect(got.map((g) => ({ question: g.question, options: g.options, answer: g.answer }))).toEqual(qs);
        expect(got.every((g) => g.subject === subject && g.source === sub && (g.meta as { split: string }).split === (sub === "cmmlu" ? "test" : "val"))).toBe(true);
        expect(got.map((g) => g.id)).toEqual(qs.map((_, i) => `${sub}:${sub === "cmmlu" ? "test/anatomy" : "val/physician"}:${i}`));
      }
    },
  );

  const qa = fc.tuple(clean(), clean());
  test.prop([fc.array(qa, { minLength: 1, maxLength: 12 })], { numRuns: 25 })("huatuo26m list-valued rows and medicalgpt-reward pairs", async (pairs) => {
    const dir = await tempDir();
    const h = path.join(dir, "huatuo.json");
    await writeJsonArray(h, pairs.map(([q, a]) => ({ id: "", instruction: [q], input: "", output: [a] })));
    const got = await all(huatuo26m.from(h));
    expect(got.map((d) => d.messages)).toEqual(pairs.map(([q, a]) => [{ role: "user", content: q }, { role: "assistant", content: a }]));
    const r = path.join(dir, "test.json");
    await writeJsonl(r, pairs.map(([q, a]) => ({ question: q, response_chosen: a, response_rejected: q + a })));
    const pp = await all(medicalgptReward.from(r));
    expect(pp.map((p) => [p.prompt, p.chosen, p.rejected])).toEqual(pairs.map(([q, a]) => [[{ role: "user", content: q }], a, q + a]));
  });

  test.prop([fc.array(fc.record({ history: fc.array(qa, { maxLength: 3 }), last: qa, safety: fc.boolean() }), { minLength: 1, maxLength: 10 })], { numRuns: 25 })(
    "cmtmedqa keeps consultations multi-turn and safety items tagged",
    async (items) => {
      const dir = await tempDir();
      const file = path.join(dir, "c.json");
      const rows = items.map((it, i) =>
        it.safety ? { instruct: ` ${it.last[0]}`, output: ` ${it.last[1]}` } : { id: `j${i}`, cate1: "内科", cate2: "心内科", instruction: it.last[0], input: "", output: it.last[1], history: it.history },
      );
      await writeJsonArray(file, rows);
      const got = await all(cmtmedqa.from(file));
      expect(got).toHaveLength(items.length);
      got.forEach((d, i) => {
        const it = items[i]!;
        const turns = it.safety ? [it.last] : [...it.history, it.last];
        expect(d.messages).toEqual(turns.flatMap(([u, a]) => [{ role: "user", content: u }, { role: "assistant", content: a }]));
        expect(d.meta).toMatchObject({ kind: it.safety ? "safety" : "consultation" });
      });
    },
  );

  test.prop([fc.array(fc.tuple(clean(",\n\r"), clean("\n\r"), clean("\n\r")), { minLength: 1, maxLength: 12 })], { numRuns: 25 })(
    "toyhom CSV and block text give the same dialogues",
    async (rows) => {
      const dir = await tempDir();
      const csv = path.join(dir, "内科.csv");
      await writeFile(csv, stringify(rows.map(([t, q, a]) => ["内科", t, q, a]), { header: true, columns: ["department", "title", "ask", "answer"] }));
      const txt = path.join(dir, "内科.txt");
      await writeFile(txt, rows.map(([t, q, a]) => `${t},${q}\n${a}\n\n\n`).join(""));
      const fromCsv = await all(toyhom.from(csv));
      const fromTxt = await all(toyhom.from(txt));
      expect(fromTxt.map((d) => [d.messages, d.meta])).toEqual(fromCsv.map((d) => [d.messages, d.meta]));
      expect(fromCsv.map((d) => d.messages[1]!.content)).toEqual(rows.map((r) => r[2]));
      expect(fromCsv.every((d) => d.messages[0]!.content.includes(d.meta!.title as string))).toBe(true);
    },
  );

  test.prop([fc.array(fc.record({ description: clean(), pairs: fc.array(qa, { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 6 })], { numRuns: 25 })(
    "cmb-clin gives one ReferenceQA per QA pair with the case in the first turn",
    async (cases) => {
      const dir = await tempDir();
      const file = path.join(dir, "cmb.json");
      await writeJsonArray(file, cases.map((c, i) => ({ id: String(i), title: `t${i}`, description: c.description, QA_pairs: c.pairs.map(([question, answer]) => ({ question, answer })) })));
      const got = await all(cmbClin.from(file));
      expect(got).toHaveLength(cases.reduce((n, c) => n + c.pairs.length, 0));
      let k = 0;
      cases.forEach((c, ci) =>
        c.pairs.forEach(([, answer], pi) => {
          const r = got[k++]!;
          expect(r.id).toBe(`cmb-clin:${ci}:${pi + 1}`);
          expect(r.reference).toBe(answer);
          expect(r.prompt).toHaveLength(2 * pi + 1);
          expect(r.prompt[0]!.content.startsWith(c.description)).toBe(true);
          expect(r.prompt[r.prompt.length - 1]!.content.endsWith(c.pairs[pi]![0])).toBe(true);
        }),
      );
    },
  );
});

describe("source converters on the committed real samples", () => {
  it("toyhom: UTF-8 CSV (300 rows) and GB18030 block text (120 blocks)", async () => {
    const csv = await all(toyhom.from(samplePath("toyhom/样例_内科5000-6000.utf8.csv")));
    expect(csv).toHaveLength(300);
    expect(csv[0]!.meta).toEqual({ department: "心血管科", title: "高血压患者能吃党参吗？" });
    const blocks = await all(toyhom.from(samplePath("toyhom/内科.txt")));
    expect(blocks).toHaveLength(120);
    expect(blocks[0]!.messages[0]!.content).toContain("高血压患者能吃党参吗？");
    expect(blocks[0]!.messages[1]!.content.startsWith("高血压病人可以口服党参的")).toBe(true);
    expect(blocks[0]!.meta!.department).toBe("内科");
  });

  it("toyhom: a GB18030 CSV (built byte-wise from the GB18030 sample) equals the block text", async () => {
    const gb = await readFile(samplePath("toyhom/内科.txt"));
    // Split the GB18030 bytes into blocks at LF; 0x0A, 0x22 and 0x2C are never trail bytes, so byte-level cuts
    // at them keep characters whole.
    const lines: Buffer[] = [];
    for (let s = 0, i = gb.indexOf(10); i !== -1; s = i + 1, i = gb.indexOf(10, s)) lines.push(gb.subarray(s, i).at(-1) === 13 ? gb.subarray(s, i - 1) : gb.subarray(s, i));
    const nonEmpty = lines.filter((l) => l.length > 0);
    const q = (b: Buffer) => Buffer.concat([Buffer.from('"'), Buffer.from(b.toString("latin1").replace(/"/g, '""'), "latin1"), Buffer.from('"')]);
    const rows: Buffer[] = [Buffer.from("department,title,ask,answer\n")];
    for (let i = 0; i + 1 < nonEmpty.length; i += 2) {
      const head = nonEmpty[i]!;
      const comma = head.indexOf(0x2c);
      rows.push(Buffer.from("IM,"), q(head.subarray(0, comma)), Buffer.from(","), q(head.subarray(comma + 1)), Buffer.from(","), q(nonEmpty[i + 1]!), Buffer.from("\n"));
    }
    const dir = await tempDir();
    const csv = path.join(dir, "内科.csv");
    await writeFile(csv, Buffer.concat(rows));
    const fromCsv = await all(toyhom.from(csv));
    const fromTxt = await all(toyhom.from(samplePath("toyhom/内科.txt")));
    expect(fromCsv).toHaveLength(120);
    expect(fromCsv.map((d) => d.messages)).toEqual(fromTxt.map((d) => d.messages));
    expect(fromCsv[0]!.meta).toEqual({ department: "IM", title: "高血压患者能吃党参吗？" });
  });

  it("huatuo26m (300), cmtmedqa (60 consultations + 12 safety), medicalgpt-reward (100)", async () => {
    expect(await all(huatuo26m.from(samplePath("huatuo26m_test/huatuo26M_test.json")))).toHaveLength(300);
    const c = await all(cmtmedqa.from(samplePath("cmtmedqa/CMtMedQA_test.json")));
    expect(c.filter((d) => d.meta!.kind === "consultation")).toHaveLength(60);
    expect(c.filter((d) => d.meta!.kind === "safety")).toHaveLength(12);
    expect(c.filter((d) => d.meta!.kind === "consultation" && d.messages.length > 2).length).toBeGreaterThan(50);
    expect(new Set(c.map((d) => d.id)).size).toBe(72);
    expect(await all(medicalgptReward.from(samplePath("medicalgpt/test.json")))).toHaveLength(100);
  });

  it("cmexam sample (302 rows, 2 multi-answer) and a 'nan' answer rejected with its line", async () => {
    const q = await all(cmexam.from(samplePath("cmexam/val.sample.csv")));
    expect(q).toHaveLength(302);
    expect(q.filter((x) => x.answer.length > 1)).toHaveLength(2);
    expect(q[0]).toMatchObject({ question: "上消化道出血可单纯表现为呕血或黑便，也可两者兼有，这取决于", answer: ["C"], options: { A: "原发病", E: "以上均非" } });
    const dir = await tempDir();
    const file = path.join(dir, "nan.csv");
    await writeFile(file, "Question,Options,Answer,Explanation\n问题一,A 甲\\nB 乙,A,\n问题二,A 甲\\nB 乙,nan,无\n");
    await expect(all(cmexam.from(file))).rejects.toThrow(/nan\.csv:3 field Answer: answer "nan"/);
    const sink = memorySink();
    expect(await all(cmexam.from(file, { onInvalid: "skip", rejects: sink }))).toHaveLength(1);
    expect(sink.entries[0]).toMatchObject({ line: 3, field: "Answer", raw: { Answer: "nan" } });
  });

  it("cmmlu (225) and ceval (99) sample directories, per subject", async () => {
    const m = await all(cmmlu.from(samplePath("cmmlu")));
    expect(m).toHaveLength(225);
    expect(new Set(m.map((x) => x.subject)).size).toBe(9);
    const c = await all(ceval.from(samplePath("ceval")));
    expect(c).toHaveLength(99);
    expect(c.filter((x) => x.explanation).length).toBe(20);
    expect(new Set(c.map((x) => x.subject))).toEqual(new Set(["basic_medicine", "clinical_medicine", "physician", "veterinary_medicine"]));
  });

  it("cmb-clin: 8 cases → one ReferenceQA per QA pair", async () => {
    const r = await all(cmbClin.from(samplePath("cmb_clin/CMB-test-qa.json")));
    expect(r.length).toBeGreaterThanOrEqual(8);
    expect(new Set(r.map((x) => (x.meta as { caseId: string }).caseId)).size).toBe(8);
  });
});
