// Converters for the SF-Med evaluation sets: webMedQA, CMB-Exam, the pharmacist licensure exam, and the
// medical-subject filter of C-Eval/CMMLU/CMB. Inputs are synthetic files in the public formats, written here or
// committed under test/fixtures (see its README), plus the real C-Eval/CMMLU samples in data/samples.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { fc, test } from "@fast-check/vitest";
import { samplePath, tempDir } from "@sfmed/test-utils";
import { stringify } from "csv-stringify/sync";
import { describe, expect, it } from "vitest";
import { writeJsonArray } from "../io/json-array.js";
import { writeJsonl } from "../io/jsonl.js";
import { LETTERS, type Letter } from "../records.js";
import { ceval } from "./ceval.js";
import { cmbExam } from "./cmb-exam.js";
import { cmmlu } from "./cmmlu.js";
import { CEVAL_MEDICAL_SUBJECTS, CMMLU_MEDICAL_SUBJECTS } from "./medical-subjects.js";
import { pharmacistExam } from "./pharmacist-exam.js";
import { converters } from "./registry.js";
import { toyhom } from "./toyhom.js";
import { webmedqa } from "./webmedqa.js";
import { all, memorySink } from "./test-helpers.js";

const fixture = (p: string) => fileURLToPath(new URL(`../../test/fixtures/${p}`, import.meta.url));

/** Non-empty, trimmed text without the given characters. */
const clean = (banned = "") =>
  fc
    .string({ unit: "grapheme", minLength: 1, maxLength: 24 })
    .map((s) => [...s].filter((c) => !banned.includes(c)).join("").trim())
    .filter((s) => s.length > 0);

const choiceArb = fc
  .record({ question: clean(), n: fc.integer({ min: 2, max: 6 }), opts: fc.array(clean(), { minLength: 6, maxLength: 6 }), pick: fc.array(fc.nat(5), { minLength: 1, maxLength: 4 }) })
  .map(({ question, n, opts, pick }) => {
    const letters = LETTERS.slice(0, n) as Letter[];
    const options = Object.fromEntries(letters.map((l, i) => [l, opts[i]!])) as Partial<Record<Letter, string>>;
    const answer = [...new Set(pick.map((p) => letters[p % n]!))].sort();
    return { question, options, answer };
  });

describe("webmedqa", () => {
  const expected = [
    { id: "webmedqa:test:10001", department: "内科", q: "最近总是头晕乏力，血压150/95，需要吃药吗？", a: "血压偏高，建议先连续监测一周血压" },
    { id: "webmedqa:test:10002", department: "儿科", q: "孩子三岁，发烧38.5℃，能用布洛芬吗？", a: "可以按体重使用布洛芬混悬液退热" },
    { id: "webmedqa:test:10003", department: "皮肤性病科", q: "手上起小水疱很痒，是湿疹吗？", a: "可能是汗疱疹或湿疹" },
  ];

  it("reads the GB18030 fixture (CRLF lines): one ReferenceQA per accepted answer, plain and gzipped", async () => {
    const bytes = await readFile(fixture("webmedqa/medQA.test.txt"));
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes)).toThrow(); // really GB18030
    const dir = await tempDir();
    const gz = path.join(dir, "medQA.test.txt.gz");
    await writeFile(gz, gzipSync(bytes));
    for (const file of [fixture("webmedqa/medQA.test.txt"), gz]) {
      const got = await all(webmedqa.from(file));
      expect(got.map((r) => r.id)).toEqual(expected.map((e) => e.id));
      got.forEach((r, i) => {
        expect(r.prompt).toEqual([{ role: "user", content: expected[i]!.q }]);
        expect(r.reference.startsWith(expected[i]!.a)).toBe(true);
        expect(r.reference.endsWith("\r")).toBe(false);
        expect(r.meta).toEqual({ questionId: expected[i]!.id.split(":")[2], department: expected[i]!.department });
      });
    }
  });

  const line = fc.record({ department: clean("\t\r\n"), label: fc.constantFrom("0", "1"), qid: fc.integer({ min: 1, max: 6 }), question: clean("\t\r\n"), answer: clean("\t\r\n") });
  test.prop([fc.array(line, { minLength: 1, maxLength: 30 })], { numRuns: 30 })(
    "TSV lines and a CSV re-export give the accepted answers in order, repeated ids numbered",
    async (rows) => {
      const dir = await tempDir();
      const tsv = path.join(dir, "medQA.valid.txt");
      await writeFile(tsv, rows.map((r) => [r.department, r.label, r.qid, r.question, r.answer].join("\t")).join("\n") + "\n");
      const csv = path.join(dir, "webmedqa.csv");
      await writeFile(csv, stringify(rows.map((r) => [r.department, r.label, String(r.qid), r.question, r.answer]), { header: true, columns: ["department", "label", "qaid", "question", "answer"] }));
      const accepted = rows.filter((r) => r.label === "1");
      const seen = new Map<number, number>();
      const ids = accepted.map((r) => {
        const n = (seen.get(r.qid) ?? 0) + 1;
        seen.set(r.qid, n);
        return `${r.qid}${n > 1 ? `:${n}` : ""}`;
      });
      const fromTsv = await all(webmedqa.from(tsv));
      expect(fromTsv.map((r) => [r.prompt[0]!.content, r.reference, r.meta!.department])).toEqual(accepted.map((r) => [r.question, r.answer, r.department]));
      expect(fromTsv.map((r) => r.id)).toEqual(ids.map((id) => `webmedqa:valid:${id}`));
      const fromCsv = await all(webmedqa.from(csv));
      expect(fromCsv.map((r) => [r.prompt, r.reference, r.meta])).toEqual(fromTsv.map((r) => [r.prompt, r.reference, r.meta]));
    },
  );

  it("keeps quotes as text and skips a header line", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "medQA.train.txt");
    await writeFile(file, 'department\tlabel\tquestion_id\tquestion\tanswer\n外科\t1\t7\t"阑尾炎"要手术吗？\t多数需要手术，"保守治疗"仅适合部分患者。\n');
    const [r] = await all(webmedqa.from(file));
    expect(r).toMatchObject({ id: "webmedqa:train:7", reference: '多数需要手术，"保守治疗"仅适合部分患者。', prompt: [{ content: '"阑尾炎"要手术吗？' }] });
  });

  it("bad lines name file, line and field; with skip they go to the rejects and label-0 lines are not rejects", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "bad.txt");
    await writeFile(file, ["内科\t1\t1\t问题一\t回答一", "内科\tx\t2\t问题二\t回答二", "内科\t1\t3\t问题三", "", "内科\t0\t4\t问题四\t回答四", "内科\t1\t5\t问题五\t "].join("\n"));
    await expect(all(webmedqa.from(file))).rejects.toThrow(/bad\.txt:2 field label: label "x" is neither 1/);
    const sink = memorySink();
    const got = await all(webmedqa.from(file, { onInvalid: "skip", rejects: sink }));
    expect(got.map((r) => r.id)).toEqual(["webmedqa:bad:1"]);
    expect(sink.entries.map((e) => [e.line, e.field])).toEqual([
      [2, "label"],
      [3, undefined],
      [6, "answer"],
    ]);
    expect(sink.entries[1]!.reason).toMatch(/expected 5 tab-separated fields/);
    expect(sink.entries.every((e) => e.file === file)).toBe(true);
  });
});

describe("cmb-exam", () => {
  const row = (q: { question: string; options: Partial<Record<Letter, string>>; answer: Letter[] }, extra: Record<string, unknown> = {}) => ({
    exam_type: "医师考试",
    exam_class: "执业医师",
    exam_subject: "口腔执业医师",
    question: q.question,
    answer: q.answer.join(""),
    question_type: q.answer.length > 1 ? "多项选择题" : "单项选择题",
    option: q.options,
    ...extra,
  });

  test.prop([fc.array(fc.tuple(choiceArb, fc.constantFrom(null, "", " ")), { minLength: 1, maxLength: 12 })], { numRuns: 25 })(
    "val-style rows round-trip; empty option slots are dropped; class, type and subject kept",
    async (items) => {
      const dir = await tempDir();
      const file = path.join(dir, "CMB-val-merge.json");
      // an empty slot after the real options, as CMB's option objects have
      await writeJsonArray(file, items.map(([q, blank]) => row({ ...q, options: { ...q.options, [LETTERS[Object.keys(q.options).length]!]: blank } as Partial<Record<Letter, string>> }, { explanation: "解析" })));
      const got = await all(cmbExam.from(file));
      expect(got.map((g) => ({ question: g.question, options: g.options, answer: g.answer }))).toEqual(items.map(([q]) => q));
      expect(got.map((g) => g.id)).toEqual(items.map((_, i) => `cmb-exam:val:CMB-val-merge:${i + 1}`));
      expect(got.every((g) => g.subject === "执业医师" && g.explanation === "解析")).toBe(true);
      expect(got[0]!.meta).toMatchObject({ split: "val", examType: "医师考试", examClass: "执业医师", examSubject: "口腔执业医师" });
    },
  );

  it("CMB-test: answers come from the answer file in the same folder; without it the rows are rejected", async () => {
    const dir = await tempDir();
    const qdir = path.join(dir, "CMB-Exam", "CMB-test");
    await mkdir(qdir, { recursive: true });
    const qs = [
      { id: 1, question: "下列哪项属于β受体阻滞剂？", option: { A: "美托洛尔", B: "氨氯地平", C: "卡托普利", D: "氢氯噻嗪", E: "" } },
      { id: 2, question: "糖尿病的诊断标准包括", option: JSON.stringify({ A: "空腹血糖≥7.0mmol/L", B: "餐后2小时血糖≥11.1mmol/L", C: "尿糖阳性", D: "HbA1c≥6.5%" }) },
    ].map((q) => ({ exam_type: "医师考试", exam_class: "规培结业", exam_subject: "内科", question_type: q.id === 2 ? "多项选择题" : "单项选择题", ...q }));
    await writeJsonArray(path.join(qdir, "CMB-test-choice-question-merge.json"), qs);
    await writeFile(path.join(qdir, "CMB-test-choice-hierarchy.json"), JSON.stringify({ 总题量: { 总题量: 2 } }, null, 4));
    const sink = memorySink();
    expect(await all(cmbExam.from(qdir, { onInvalid: "skip", rejects: sink }))).toHaveLength(0);
    expect(sink.entries.map((e) => [e.field, e.line])).toEqual([
      ["answer", 2],
      ["answer", 3],
    ]);
    await expect(all(cmbExam.from(qdir))).rejects.toThrow(/CMB-test-choice-question-merge\.json:2 field answer: no answer/);
    await writeJsonArray(path.join(dir, "CMB-test-choice-answer.json"), [
      { id: 1, exam_type: "医师考试", exam_class: "规培结业", exam_subject: "内科", question_type: "单项选择题", answer: "A" },
      { id: 2, exam_type: "医师考试", exam_class: "规培结业", exam_subject: "内科", question_type: "多项选择题", answer: "ABD" },
    ]);
    const got = await all(cmbExam.from(dir));
    expect(got.map((g) => [g.id, g.answer, Object.keys(g.options).join("")])).toEqual([
      ["cmb-exam:test:1", ["A"], "ABCD"],
      ["cmb-exam:test:2", ["A", "B", "D"], "ABCD"],
    ]);
  });

  it("an answer pointing at an empty option slot is invalid, naming the field", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "CMB-train-merge.json");
    await writeJsonArray(file, [row({ question: "题", options: { A: "甲", B: "乙", C: " " }, answer: ["C"] })]);
    await expect(all(cmbExam.from(file))).rejects.toThrow(/CMB-train-merge\.json:2 field answer\[0\]: answer "C" is not one of the options AB/);
  });

  it("medicalOnly drops the 考研政治 class and keeps the rest", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "CMB-val-merge.json");
    const q = { question: "题", options: { A: "甲", B: "乙" }, answer: ["A"] as Letter[] };
    await writeJsonl(file, [row(q), row(q, { exam_type: "医学考研", exam_class: "考研政治" }), row(q, { exam_type: "药师考试", exam_class: "执业西药师" })]);
    expect((await all(cmbExam.from(file))).map((g) => g.subject)).toEqual(["执业医师", "考研政治", "执业西药师"]);
    expect((await all(cmbExam.from(file, { medicalOnly: true }))).map((g) => g.subject)).toEqual(["执业医师", "执业西药师"]);
  });
});

describe("pharmacist-exam", () => {
  test.prop([fc.array(choiceArb, { minLength: 1, maxLength: 10 }), fc.constantFrom("letters", "option", "list", "text", "csv")], { numRuns: 40 })(
    "the same questions read the same from every accepted shape",
    async (qs, shape) => {
      const dir = await tempDir();
      const base = "2023_Pharmacist_Licensure_Examination_(Pharmacy_track)";
      const letters = (q: (typeof qs)[number]) => Object.keys(q.options) as Letter[];
      let file: string;
      if (shape === "csv") {
        file = path.join(dir, `${base}.csv`);
        const cols = [...LETTERS.slice(0, 6)];
        await writeFile(file, stringify(qs.map((q) => [q.question, ...cols.map((l) => q.options[l] ?? ""), q.answer.join(""), "最佳选择题"]), { header: true, columns: ["question", ...cols, "answer", "question_type"] }));
      } else {
        file = path.join(dir, `${base}.jsonl`);
        const rows = qs.map((q) => {
          const opts =
            shape === "letters"
              ? q.options
              : shape === "option"
                ? { option: q.options }
                : shape === "list"
                  ? { 选项: letters(q).map((l) => `${l}. ${q.options[l]}`) }
                  : { options: letters(q).map((l) => `${l}、${q.options[l]}`).join("\n") };
          return { question: q.question, ...opts, answer: shape === "list" ? q.answer : q.answer.join(","), question_type: "Optimal Choice" };
        });
        await writeJsonl(file, rows);
      }
      const got = await all(pharmacistExam.from(file));
      expect(got.map((g) => ({ question: g.question, options: g.options, answer: g.answer }))).toEqual(qs);
      expect(got.every((g) => g.subject === "pharmacy" && typeof g.meta?.questionType === "string")).toBe(true);
      expect(new Set(got.map((g) => g.id)).size).toBe(qs.length);
    },
  );

  it("Chinese field names, explanation, id and extra fields into meta", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "中药学.json");
    await writeJsonArray(file, [{ 题号: 9, id: "q9", 题目: "具有清热燥湿作用的药物是", 选项: { A: "黄芩", B: "麻黄", C: "桂枝", D: "附子", E: "干姜" }, 答案: "A", 题型: "最佳选择题", 解析: "黄芩清热燥湿。", 科目: "中药学专业知识（一）" }]);
    const [q] = await all(pharmacistExam.from(file));
    expect(q).toEqual({
      id: "pharmacist-exam:中药学:q9",
      source: "pharmacist-exam",
      subject: "中药学专业知识（一）",
      question: "具有清热燥湿作用的药物是",
      options: { A: "黄芩", B: "麻黄", C: "桂枝", D: "附子", E: "干姜" },
      answer: ["A"],
      explanation: "黄芩清热燥湿。",
      meta: { questionType: "最佳选择题", 题号: 9 },
    });
  });

  it("bad rows name file, line and field", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "ple.jsonl");
    const rows = [
      { question: "好题", A: "甲", B: "乙", answer: "B" },
      { question: "两处选项", A: "甲", B: "乙", option: { A: "甲", B: "乙" }, answer: "A" },
      { question: "无答案", A: "甲", B: "乙" },
      { question: "答案不在选项中", A: "甲", B: "乙", answer: "E" },
      { question: "答案不是字母", A: "甲", B: "乙", answer: "甲" },
      { question: "无选项", answer: "A" },
    ];
    await writeJsonl(file, rows);
    await expect(all(pharmacistExam.from(file))).rejects.toThrow(/ple\.jsonl:2 field option: options given twice/);
    const sink = memorySink();
    expect(await all(pharmacistExam.from(file, { onInvalid: "skip", rejects: sink }))).toHaveLength(1);
    expect(sink.entries.map((e) => [e.line, e.field])).toEqual([
      [2, "option"],
      [3, "answer"],
      [4, "answer[0]"],
      [5, "answer"],
      [6, "options"],
    ]);
  });
});

describe("medical subjects", () => {
  it("the CMMLU list names exactly the medical subject files of the CMMLU sample; medicalOnly keeps them all", async () => {
    const m = await all(cmmlu.from(samplePath("cmmlu"), { medicalOnly: true }));
    expect(m).toHaveLength(225);
    expect(new Set(m.map((x) => x.subject))).toEqual(new Set(CMMLU_MEDICAL_SUBJECTS));
  });

  it("C-Eval: medicalOnly keeps basic/clinical medicine and physician, drops veterinary medicine", async () => {
    const everything = await all(ceval.from(samplePath("ceval")));
    const medical = await all(ceval.from(samplePath("ceval"), { medicalOnly: true }));
    expect(new Set(medical.map((x) => x.subject))).toEqual(new Set(CEVAL_MEDICAL_SUBJECTS));
    expect(medical).toEqual(everything.filter((x) => x.subject !== "veterinary_medicine"));
    expect(medical.length).toBeLessThan(everything.length);
  });

  it("non-medical subject files are never read with medicalOnly (a C-Eval test file without answers would fail)", async () => {
    const dir = await tempDir();
    for (const [name, answer] of [["physician_val", "B"], ["law_test", ""], ["high_school_biology_val", "A"]] as const) {
      await writeFile(path.join(dir, `${name}.csv`), stringify([["0", "题", "甲", "乙", "丙", "丁", answer]], { header: true, columns: ["id", "question", "A", "B", "C", "D", "answer"] }));
    }
    await expect(all(ceval.from(dir))).rejects.toThrow(/law_test\.csv:2 field answer/);
    expect((await all(ceval.from(dir, { medicalOnly: true }))).map((q) => q.id)).toEqual(["ceval:val/physician:0"]);
    await writeFile(path.join(dir, "college_law.csv"), "x");
    expect(await all(cmmlu.from(dir, { medicalOnly: true, onInvalid: "error" }))).toHaveLength(0);
  });

  it("medicalOnly on a converter without a subject list is an error; the registry says which have one", async () => {
    await expect(all(toyhom.from(samplePath("toyhom/内科.txt"), { medicalOnly: true }))).rejects.toThrow(/converter "toyhom" has no list of medical subjects/);
    const withList = Object.values(converters).filter((c) => c.medicalFilter).map((c) => c.name);
    expect(withList.sort()).toEqual(["ceval", "cmb-exam", "cmmlu"]);
  });
});
