/**
 * Context words near a number decide whether it is personal data or a medical/record value. Medical text is full of
 * long digit runs (record numbers, sample ids, approval numbers, lab values), so pattern-only detectors look
 * around the match before scoring it.
 */

/** Words before a number that say it is a contact number. */
export const PHONE_CONTEXT = ["手机", "电话", "联系", "致电", "拨打", "来电", "热线", "微信", "短信", "座机", "号码", "tel", "phone", "mobile", "call"];
/** Words before a number that say it is a bank card. */
export const CARD_CONTEXT = ["银行卡", "卡号", "账号", "帐号", "储蓄卡", "信用卡", "借记卡", "转账", "汇款", "开户", "收款", "card"];
/** Words before a number that say it is an identity document. */
export const ID_CONTEXT = ["身份证", "证件号", "公民身份", "身份号码"];
/** Words before a number that say it is an internal identifier or measurement, not personal contact data. */
export const RECORD_CONTEXT = [
  "编号", "订单", "单号", "病案号", "住院号", "门诊号", "检查号", "病历号", "登记号", "记录号", "流水号", "序列号", "样本", "标本",
  "批号", "批准文号", "国药准字", "条码", "注册证", "专利", "isbn", "doi", "pmid", "no.", "id",
];

/** Units and counters right after a number make it a quantity (dose, lab value, money, age). */
const QUANTITY_AFTER = /^\s*(?:[mμuµn]?g\b|[mμuµ]?l\b|ml|mg|kg|mmol|μmol|umol|iu|u\/|毫|微|克|升|单位|次|个|元|岁|倍|%|％|万|亿|小时|分钟|天|周|月|年|例|人|片|粒|支|袋|mmhg|bpm)/i;

const WINDOW_BEFORE = 12;

/** The lower-cased text just before `start`, up to the previous line break. */
export function textBefore(text: string, start: number, width = WINDOW_BEFORE): string {
  let s = text.slice(Math.max(0, start - width), start);
  const nl = Math.max(s.lastIndexOf("\n"), s.lastIndexOf("\r"));
  if (nl >= 0) s = s.slice(nl + 1);
  return s.toLowerCase();
}

/** The first of `words` found in the window before `start`, or undefined. */
export function contextWord(text: string, start: number, words: readonly string[], width = WINDOW_BEFORE): string | undefined {
  const before = textBefore(text, start, width);
  return words.find((w) => before.includes(w));
}

/** True when a unit or counter follows the number directly (a quantity, not an identifier). */
export function followedByQuantity(text: string, end: number): boolean {
  return QUANTITY_AFTER.test(text.slice(end, end + 8));
}

/** Clamp a score into [0, 1]. */
export function clampScore(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/**
 * The score of a phone-like number after its surroundings: a phone word before it makes it near certain; a record
 * word (住院号, 编号, …) or a quantity unit after it (mg, 次, 元, …) rules it out. Appends why to `reasons`.
 */
export function phoneContextScore(text: string, start: number, end: number, score: number, reasons: string[]): number {
  const ctx = contextWord(text, start, PHONE_CONTEXT);
  if (ctx) {
    score = 0.95;
    reasons.push(`context:${ctx}`);
  } else {
    const record = contextWord(text, start, RECORD_CONTEXT);
    if (record) {
      score = 0.1;
      reasons.push(`record-context:${record}`);
    }
  }
  if (followedByQuantity(text, end)) {
    score = 0.1;
    reasons.push("quantity");
  }
  return score;
}
