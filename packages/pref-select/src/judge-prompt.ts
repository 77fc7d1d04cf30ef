import type { Message } from "@sfmed/schema";

/** What a judge prompt builder gets: the conversation and the candidates in the order this judge sees them. */
export interface JudgePromptInput {
  prompt: Message[];
  /** Candidate responses in displayed order. */
  responses: string[];
  /** The label of each displayed response ("A", "B", ...). */
  labels: string[];
}

export type JudgePromptBuilder = (input: JudgePromptInput) => Message[];

/** Labels for up to 26 candidates. */
export function candidateLabels(n: number): string[] {
  if (n > 26) throw new RangeError(`at most 26 candidates can be labelled, got ${n}`);
  return Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));
}

const ROLE: Record<Message["role"], string> = { system: "系统", user: "用户", assistant: "助手" };

/**
 * The default judge prompt (Chinese, for medical answers): the conversation, each candidate between labelled
 * markers, and a request to end with the verdict as `[[X]]` so the pick can be parsed reliably.
 */
export const defaultJudgePrompt: JudgePromptBuilder = ({ prompt, responses, labels }) => {
  const dialogue = prompt.map((m) => `${ROLE[m.role]}：${m.content}`).join("\n");
  const blocks = responses.map((r, i) => `[回答 ${labels[i]}]\n${r}\n[回答 ${labels[i]} 结束]`).join("\n\n");
  const last = labels[labels.length - 1];
  return [
    { role: "system", content: "你是一名严谨、公正的医学评审专家。" },
    {
      role: "user",
      content:
        `请比较下面 ${responses.length} 个助手回答，选出对用户问题最好的一个。评判标准：医学准确性、安全性、完整性和有用性；不要受回答顺序或长度影响。\n\n` +
        `[对话]\n${dialogue}\n[对话结束]\n\n${blocks}\n\n` +
        `请先用一两句话说明理由，最后一行严格按格式给出结论：[[X]]，其中 X 是最佳回答的字母（A 到 ${last}）。`,
    },
  ];
};
