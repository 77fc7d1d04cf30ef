// Test double: a deterministic "model" that answers the numbered layout's request with a numbered list of medical
// instructions chosen by a hash of the prompt, plus a few lines each filter must reject, and the Figure 2 layout
// with one instruction (Chinese or English, as the prompt is).
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

const INSTRUCTIONS_ZH = [
  "作为{d}专科医生，请根据患者描述的症状和病史给出专业的诊断意见。",
  "你是一名擅长诊治{d}的医生，请直接回答患者的问题并说明用药注意事项。",
  "请以医生的口吻解答{d}患者的疑问，必要时建议其到医院进一步检查。",
  "请扮演{d}方向的临床医生，结合患者的检查结果给出治疗建议。",
  "作为医生，请向{d}患者解释病情的发展过程，并给出日常护理和饮食方面的建议。",
  "你是一名{d}门诊的医生，请先评估患者病情的严重程度，再给出就医和治疗建议。",
];
const DISEASES_EN = ["hypertension", "diabetes", "asthma", "gastritis", "pneumonia", "hepatitis", "anemia", "migraine", "depression", "osteoporosis"];
const INSTRUCTIONS_EN = [
  "As a doctor who treats {d}, give the patient a professional diagnosis based on the symptoms and medical history.",
  "You are a physician experienced with {d}; answer the patient directly and explain the precautions for the medication.",
  "Speaking like a doctor, address the worries of a patient with {d} and advise a hospital examination when needed.",
  "Act as a clinician focused on {d} and suggest a treatment plan that takes the patient's test results into account.",
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

/** English seeds for the English-mode tests (12: a full 5-turn history). */
export const TEST_SEEDS_EN = [
  "Please answer the patient's question about high blood pressure as a doctor would.",
  "As a physician, explain to the patient how diabetes is diagnosed and treated.",
  "Give the patient clear advice on when a fever needs a hospital visit.",
  "Act as a doctor and describe the side effects of the patient's medication.",
  "Explain to the patient the difference between a cold and influenza, speaking like a doctor.",
  "As a clinician, tell the patient which tests a chronic cough calls for.",
  "Please respond like a doctor to a patient worried about chest pain after exercise.",
  "As a general practitioner, advise the patient on managing asthma at home.",
  "Speaking as a doctor, explain what a thyroid nodule on ultrasound means for the patient.",
  "As a physician, explain to the patient how to prevent a stroke after a heart attack.",
  "Please act as a doctor and answer the patient's question about insomnia and anxiety.",
  "As a doctor, advise an elderly patient on recovery after a hip fracture.",
];

/** How the fake answers: `"auto"` picks `"list"` for the numbered request and `"one"` otherwise. */
export type FakeStyle = "auto" | "list" | "one";

const HAN = /\p{Script=Han}/u;

/** The answer the fake gives to a prompt: a numbered list (6 instructions plus rejectable lines) or one instruction. */
export function fakeAnswer(messages: readonly Message[], seed = 0, style: FakeStyle = "auto"): string {
  const h = createHash("sha256").update(JSON.stringify(messages) + "|" + seed).digest();
  const last = messages[messages.length - 1]!.content;
  const list = style === "list" || (style === "auto" && /按编号|numbered list/.test(last));
  if (!list) {
    if (!HAN.test(last)) return INSTRUCTIONS_EN[h[1]! % INSTRUCTIONS_EN.length]!.replaceAll("{d}", DISEASES_EN[h[2]! % DISEASES_EN.length]!);
    const one = INSTRUCTIONS_ZH[h[1]! % INSTRUCTIONS_ZH.length]!.replaceAll("{d}", DISEASES[h[2]! % DISEASES.length]!);
    // Now and then a preamble line, as chat models write, which the splitter drops.
    return h[3]! % 2 === 0 ? `好的，以下是扩展的指令：\n${one}` : one;
  }
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
export function fakeChatModel(opts: { failOn?: number[]; style?: FakeStyle } = {}): FakeModel {
  const calls: Message[][] = [];
  return {
    name: "fake",
    calls,
    async chat(messages: Message[], o: ChatOptions = {}): Promise<ChatResult> {
      calls.push(messages);
      if (opts.failOn?.includes(calls.length)) throw new Error(`injected failure on call ${calls.length}`);
      const text = fakeAnswer(messages, o.seed, opts.style);
      return { texts: [text], finishReasons: ["stop"], usage: { promptTokens: 100, completionTokens: 50 }, cached: false };
    },
  };
}
