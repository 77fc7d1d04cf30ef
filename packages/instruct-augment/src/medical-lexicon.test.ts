import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { readSample } from "@sfmed/test-utils";
import { MedicalLexicon, defaultMedicalLexicon, parseLexicon } from "./medical-lexicon.js";

describe("MedicalLexicon", () => {
  it("matches leftmost-longest, distinct, in order", () => {
    const l = new MedicalLexicon(["血压", "高血压", "压力", "头痛"]);
    expect(l.match("高血压患者头痛，血压高，又头痛")).toEqual(["高血压", "头痛", "血压"]);
  });

  it("reads the THUOCL format, and the shipped default is its top of the list", () => {
    const full = parseLexicon(readSample("thuocl/THUOCL_medical.txt"));
    expect(full.size).toBeGreaterThan(18_000);
    const def = defaultMedicalLexicon();
    expect(def.size).toBe(5000);
    for (const t of ["医院", "治疗", "高血压", "糖尿病"]) expect(def.has(t)).toBe(true);
    expect(parseLexicon("# comment\n高血压\t123\n\n糖尿病 5 n\n").match("糖尿病和高血压")).toEqual(["糖尿病", "高血压"]);
  });

  it("English: case-insensitive, whole words, plurals, multi-word terms", () => {
    const l = parseLexicon("ear\nblood pressure\nPatient\nCT\nvirus\n");
    expect(l.match("Near the ears of patients with HIGH Blood Pressure; a CT scan.")).toEqual(["ear", "Patient", "blood pressure", "CT"]);
    expect(l.match("nearly a patiently taken ACT")).toEqual([]);
    expect(l.match("viruses")).toEqual(["virus"]);
    const def = defaultMedicalLexicon("en");
    expect(def.size).toBeGreaterThan(250);
    expect(def.match("The physician reviewed the patient's blood pressure and diabetes medication.")).toEqual([
      "physician",
      "patient",
      "blood pressure",
      "diabetes",
      "medication",
    ]);
    expect(def.match("Please plan the weekend trip with friends.")).toEqual([]);
  });

  test.prop([fc.uniqueArray(fc.stringMatching(/^[甲乙丙丁戊]{1,3}$/), { minLength: 1, maxLength: 8 }), fc.stringMatching(/^[甲乙丙丁戊子]{0,30}$/)])(
    "every match is a lexicon term occurring in the text, and matches do not overlap",
    (terms, text) => {
      const l = new MedicalLexicon(terms);
      const found = l.match(text);
      expect(new Set(found).size).toBe(found.length);
      for (const f of found) {
        expect(terms).toContain(f);
        expect(text).toContain(f);
      }
      if (terms.some((t) => text.includes(t))) expect(found.length).toBeGreaterThan(0);
    },
  );
});
