/**
 * The medical subjects of the general Chinese benchmarks, as the benchmarks name them (file names of their data).
 * The SF-Med paper scores "the questions about the medical field" of C-Eval and CMMLU without listing subjects;
 * these lists are ours, taken from each benchmark's own subject table and kept to human medicine.
 */

/**
 * C-Eval (hkust-nlp/ceval `subject_mapping.json`): 基础医学, 临床医学, 医师资格. `veterinary_medicine` (兽医学)
 * is left out: it is animal medicine, filed under STEM by C-Eval.
 */
export const CEVAL_MEDICAL_SUBJECTS = ["basic_medicine", "clinical_medicine", "physician"] as const;

/**
 * CMMLU (haonan-li/CMMLU `src/categories.py`): 解剖学, 临床知识, 大学医学统计, 大学医学, 遗传学, 营养学,
 * 专业医学, 中医中药, 病毒学.
 */
export const CMMLU_MEDICAL_SUBJECTS = [
  "anatomy",
  "clinical_knowledge",
  "college_medical_statistics",
  "college_medicine",
  "genetics",
  "nutrition",
  "professional_medicine",
  "traditional_chinese_medicine",
  "virology",
] as const;

/**
 * CMB-Exam `exam_class` values that are not medicine: 考研政治 (the politics paper of the medical postgraduate
 * entrance exam, FreedomIntelligence/CMB `catalog.md`). Every other class is medical, nursing or pharmacy.
 */
export const CMB_NON_MEDICAL_CLASSES = ["考研政治"] as const;
