// Test double: a deterministic "model" that answers the expansion request with a numbered list of medical
// instructions chosen by a hash of the prompt, plus a few lines each filter must reject.
import { createHash } from "node:crypto";
import type { Message } from "@sfmed/schema";
import type { ChatModel, ChatOptions, ChatResult } from "@sfmed/llm";

const DISEASES = ["高血压", "糖尿病", "冠心病", "支气管哮喘", "慢性胃炎", "社区获得性肺炎", "乙型肝炎", "缺铁性贫血", "痛风", "偏头痛", "抑郁症", "骨质疏松", "甲状腺功能亢进", "类风湿关节炎", "慢性肾病", "帕金森病"];
const ASPECTS = [
  "{d}患者在日常饮食中需要注意哪些问题？",
  "如何判断{d}的病情是否在加重？",
  "请说明{d}常见的并发症以及预防方法。",
  "治疗{d}常用哪些药物，它们有什么副作用？",
  "{d}的早期症状有哪些，什么时候应该去医院检查？",
  "孕妇得了{d}应该怎样治疗才安全？",
  "老年人患{d}后康复训练要注意什么？",
  "{d}需要做哪些实验室检查来明确诊断？",
];

export const TEST_SEEDS = [
  "头痛伴有恶心呕吐应该怎么处理？",
  "儿童发烧到三十九度需要马上去医院吗？",
  "长期失眠会对身体造成哪些影响？",
  "胃溃疡患者可以喝牛奶吗？",
  "请介绍一下感冒和流感的区别。",
  "腰椎间盘突出的保守治疗方法有哪些？",
  "血糖偏高但还没到糖尿病的程度，应该怎么调理？",
  "服用阿司匹林期间需要注意什么？",
  "体检发现甲状腺结节，需要手术吗？",
  "过敏性鼻炎反复发作怎么办？",
  "慢性咳嗽超过两个月需要做哪些检查？",
  "老年人骨折后如何预防深静脉血栓？",
];

/** The answer the fake gives to a prompt: 6 instructions picked by hash, plus rejectable lines. */
export function fakeAnswer(messages: readonly Message[], seed = 0): string {
  const h = createHash("sha256").update(JSON.stringify(messages) + "|" + seed).digest();
  const lines: string[] = ["以下是扩展的指令："];
  for (let i = 0; i < 6; i++) {
    const d = DISEASES[h[i]! % DISEASES.length]!;
    const a = ASPECTS[h[i + 8]! % ASPECTS.length]!;
    lines.push(`${i + 1}. ${a.replaceAll("{d}", d)}`);
  }
  lines.push("7. How should I treat a cold at home?");
  lines.push("8. 好的。");
  lines.push(`9. ${messages[messages.length - 1]!.content.split("\n")[0]}`);
  lines.push("10. 今天天气很好，我们出去散步吧。");
  return lines.join("\n");
}

export interface FakeModel extends ChatModel {
  calls: Message[][];
}

/** A ChatModel answering with {@link fakeAnswer}; throws on the listed (1-based) call numbers. */
export function fakeChatModel(opts: { failOn?: number[] } = {}): FakeModel {
  const calls: Message[][] = [];
  return {
    name: "fake",
    calls,
    async chat(messages: Message[], o: ChatOptions = {}): Promise<ChatResult> {
      calls.push(messages);
      if (opts.failOn?.includes(calls.length)) throw new Error(`injected failure on call ${calls.length}`);
      const text = fakeAnswer(messages, o.seed);
      return { texts: [text], finishReasons: ["stop"], usage: { promptTokens: 100, completionTokens: 50 }, cached: false };
    },
  };
}
