// Seeded text generators shared by tests and benchmarks (not exported from the package).
import { splitmix32 } from "@sfmed/schema/io";

const ALPHABET = Array.from("的一是了我不在人有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴切另越病痛血压糖尿肝肾胃肠药治疗症状医生患者检查");

/** A random Chinese-like text of `len` characters with some punctuation. */
export function randomText(next: () => number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    const r = next() >>> 0;
    s += r % 17 === 0 ? "，" : ALPHABET[r % ALPHABET.length];
  }
  return s;
}

/** A copy of `text` with each character substituted, deleted or followed by an insertion with probability `rate`. */
export function editText(next: () => number, text: string, rate: number): string {
  let out = "";
  for (const ch of text) {
    const u = (next() >>> 0) / 2 ** 32;
    if (u < rate / 3) out += ALPHABET[(next() >>> 0) % ALPHABET.length];
    else if (u < (2 * rate) / 3) continue;
    else if (u < rate) out += ch + ALPHABET[(next() >>> 0) % ALPHABET.length];
    else out += ch;
  }
  return out;
}

/** A corpus of `n` docs where about `dupShare` are edited copies of earlier ones. */
export function corpus(seed: number, n: number, opts: { len?: number; dupShare?: number; maxRate?: number } = {}): string[] {
  const next = splitmix32(seed);
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    const u = (next() >>> 0) / 2 ** 32;
    if (i > 0 && u < (opts.dupShare ?? 0.3)) {
      const base = docs[(next() >>> 0) % docs.length]!;
      docs.push(editText(next, base, (((next() >>> 0) / 2 ** 32) * (opts.maxRate ?? 0.08))));
    } else docs.push(randomText(next, (opts.len ?? 120) + ((next() >>> 0) % 40)));
  }
  return docs;
}

export { splitmix32 };
