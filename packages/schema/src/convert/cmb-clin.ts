import type { Message, ReferenceQA } from "../records.js";
import { asObject, defineConverter, sourceId, str } from "./converter.js";

/**
 * `cmb-clin`: CMB-Clin cases `{id, title, description, QA_pairs: [{question, answer}]}` → one ReferenceQA per
 * QA pair. The case description opens the first user turn; earlier questions of the same case and their
 * reference answers come before the current question, the way CMB-Clin is posed as a consultation.
 */
export const cmbClin = defineConverter({
  name: "cmb-clin",
  kind: "qa",
  description: "CMB-Clin cases {description, QA_pairs} → ReferenceQA per QA pair (case description in the prompt)",
  map(value, ctx): ReferenceQA[] {
    const obj = asObject(value, ctx);
    const description = str(obj, "description", ctx).trim();
    const title = typeof obj.title === "string" ? obj.title : undefined;
    const pairs = obj.QA_pairs;
    if (!Array.isArray(pairs) || !pairs.length) return ctx.fail("QA_pairs must be a non-empty list", "QA_pairs");
    const caseId = sourceId(obj.id) ?? `${ctx.stem}:${ctx.index}`;
    const history: Message[] = [];
    return pairs.map((p, i) => {
      const pair = asObject(p, ctx);
      const question = str(pair, "question", ctx).trim();
      const answer = str(pair, "answer", ctx).trim();
      const user = i === 0 ? `${description}\n\n${question}` : question;
      const prompt: Message[] = [...history, { role: "user", content: user }];
      history.push({ role: "user", content: user }, { role: "assistant", content: answer });
      return {
        id: `cmb-clin:${caseId}:${i + 1}`,
        source: "cmb-clin",
        prompt,
        reference: answer,
        meta: { caseId, turn: i + 1, ...(title ? { title } : {}) },
      };
    });
  },
});
