import { lcsMultiWord, lcsOfSymbols, lcsOneWord, popcount32 } from "./lcs-bit-parallel.js";
import { createLcsDriver, lcsDriverSource } from "./lcs-wasm-driver.js";
import { charCodes, charCodesInto, isPythonWhitespace } from "./tokenize.js";

/**
 * The ROUGE-L worker's source. It runs the very same functions, shipped as source text (they reference nothing
 * outside themselves), so the package needs no separate worker file in source or built form. `workerData.module`
 * is the compiled LCS module (null: the JS kernel).
 *
 * Messages in: `{ texts }` (character tokens: a chunk's candidate, reference, candidate, … strings, tokenized
 * here) or `{ data, offsets, wasm }` (interned ids, sides back to back; `wasm` false for oversized pairs).
 * Out: `{ lcs, lengths? }`, transferred.
 */
export function workerSource(): string {
  return `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
// Transpilers that keep function names wrap inner functions in __name(fn, "name"); it only sets .name.
const __name = (fn) => fn;
${popcount32.toString()}
${lcsOneWord.toString()}
${lcsMultiWord.toString()}
${lcsOfSymbols.toString()}
${isPythonWhitespace.toString()}
${charCodes.toString()}
${charCodesInto.toString()}
${lcsDriverSource()}
const driver = workerData && workerData.module ? ${createLcsDriver.name}(workerData.module, WebAssembly, ${lcsOfSymbols.name}, ${charCodesInto.name}) : null;
parentPort.on("message", (m) => {
  if (m.texts !== undefined) {
    const n = m.texts.length >> 1;
    const lcs = new Int32Array(n);
    const lengths = new Int32Array(2 * n);
    const side = (i) => m.texts[i];
    if (driver) driver.chars(n, side, lcs, lengths);
    else
      for (let k = 0; k < n; k++) {
        const c = ${charCodes.name}(side(2 * k));
        const r = ${charCodes.name}(side(2 * k + 1));
        lengths[2 * k] = c.length;
        lengths[2 * k + 1] = r.length;
        lcs[k] = c.length && r.length ? ${lcsOfSymbols.name}(c, r) : 0;
      }
    parentPort.postMessage({ lcs, lengths }, [lcs.buffer, lengths.buffer]);
    return;
  }
  const n = (m.offsets.length - 1) >> 1;
  const lcs = new Int32Array(n);
  const side = (i) => m.data.subarray(m.offsets[i], m.offsets[i + 1]);
  if (driver && m.wasm) driver.symbols(n, side, lcs);
  else for (let k = 0; k < n; k++) lcs[k] = m.offsets[2 * k + 1] > m.offsets[2 * k] && m.offsets[2 * k + 2] > m.offsets[2 * k + 1] ? ${lcsOfSymbols.name}(side(2 * k), side(2 * k + 1)) : 0;
  parentPort.postMessage({ lcs }, [lcs.buffer]);
});
`;
}
