import type { Message } from "@sfmed/schema";

/** One scored dimension of a rubric. */
export interface RubricDimension {
  /** Key in the parsed scores and in the JSON the judge is asked for, e.g. "overall", "fluency". */
  key: string;
  /** Other names the judge may use for it (Chinese labels, capitalised forms). */
  aliases?: string[];
  /** What the dimension means, shown to the judge. */
  description?: string;
}

/** What the judge sees and how its answer is read. */
export interface JudgeRubric {
  name: string;
  dimensions: RubricDimension[];
  /** Inclusive score range; a parsed score outside it counts as unparsable. */
  min: number;
  max: number;
  /** Builds the judge's messages for one answer. */
  buildMessages(input: JudgeInput): Message[];
  /** Reminder sent after an unparsable judgment, before retrying. */
  repairPrompt: string;
}

/** The item being graded: the question, the reference answer and the answer under test. */
export interface JudgeInput {
  question: string;
  reference: string;
  answer: string;
}

/**
 * Default rubric: one overall 1–10 score with the reference answer in the prompt (MT-Bench's reference-guided
 * single-answer grading, adapted to medical answers), output as `[[rating]]`.
 */
export function overallRubric(opts: { min?: number; max?: number } = {}): JudgeRubric {
  const min = opts.min ?? 1;
  const max = opts.max ?? 10;
  return {
    name: `overall-${min}-${max}`,
    dimensions: [{ key: "overall", aliases: ["rating", "score", "评分", "得分", "总分", "分数"] }],
    min,
    max,
    buildMessages: ({ question, reference, answer }) => [
      { role: "system", content: "You are a careful medical expert and an impartial judge." },
      {
        role: "user",
        content:
          `[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the medical question displayed below. ` +
          `Your evaluation should consider medical correctness, safety and helpfulness. You will be given a reference answer written by a doctor and the assistant's answer. ` +
          `Begin your evaluation by comparing the assistant's answer with the reference answer. Identify and correct any mistakes. Do not let the length of the answer influence your evaluation. ` +
          `Be as objective as possible. After providing your explanation, you must rate the response on a scale of ${min} to ${max} by strictly following this format: "[[rating]]", for example: "Rating: [[${Math.round((min + max) / 2)}]]".\n\n` +
          `[Question]\n${question}\n\n[The Start of Reference Answer]\n${reference}\n[The End of Reference Answer]\n\n` +
          `[The Start of Assistant's Answer]\n${answer}\n[The End of Assistant's Answer]`,
      },
    ],
    repairPrompt: `Your rating could not be read. Reply with the rating only, on a scale of ${min} to ${max}, in the format "[[rating]]".`,
  };
}

/**
 * CMB-Clin style rubric: four 1–5 scores (fluency, relevance, completeness, medical proficiency) against the
 * reference solution, returned as JSON.
 */
export function cmbClinRubric(): JudgeRubric {
  const dims: RubricDimension[] = [
    { key: "fluency", aliases: ["流畅性", "Fluency"], description: "the answer is coherent, consistent and reads naturally" },
    { key: "relevance", aliases: ["相关性", "Relevance"], description: "the answer addresses the question and stays on it" },
    { key: "completeness", aliases: ["完整性", "Completeness"], description: "the answer covers what the reference solution covers" },
    { key: "proficiency", aliases: ["专业性", "Proficiency", "proficiency in medicine", "Proficiency in medicine"], description: "the medical content is correct, safe and professional" },
  ];
  return {
    name: "cmb-clin-1-5",
    dimensions: dims,
    min: 1,
    max: 5,
    buildMessages: ({ question, reference, answer }) => [
      { role: "system", content: "You are an AI evaluator specializing in assessing the quality of answers provided by other language models." },
      {
        role: "user",
        content:
          `Assess the answer to the medical question below against the reference solution, on four dimensions, each scored from 1 (poor) to 5 (excellent):\n` +
          dims.map((d) => `- ${d.key}: ${d.description}`).join("\n") +
          `\n\n[Question]\n${question}\n\n[Solution]\n${reference}\n\n[Answer]\n${answer}\n\n` +
          `Output ONLY the JSON, for example {"fluency": 3, "relevance": 4, "completeness": 3, "proficiency": 4}.`,
      },
    ],
    repairPrompt: `Your scores could not be read. Reply with the JSON only, each score an integer from 1 to 5: {"fluency": _, "relevance": _, "completeness": _, "proficiency": _}.`,
  };
}
