import { lcsOfSymbols } from "./lcs-bit-parallel.js";
import { createLcsDriver, type LcsDriver } from "./lcs-wasm-driver.js";
import { lcsModule } from "./lcs-wasm.js";
import { charCodesInto } from "./tokenize.js";

/** Which LCS kernel runs: the Wasm one where the runtime has WebAssembly, else (or when asked) plain JS. */
export type LcsKernel = "wasm" | "js";

let kernel: LcsKernel = "wasm";
let driver: LcsDriver | null | undefined;

/** Selects the kernel for this thread and for worker pools started afterwards (tests and benches compare both). */
export function setLcsKernel(k: LcsKernel): void {
  kernel = k;
}

/** The module to hand to worker threads, or null for the JS kernel. */
export function kernelModule(): object | null {
  return kernel === "wasm" ? lcsModule() : null;
}

/** This thread's Wasm driver, or null for the JS kernel. */
export function lcsDriver(): LcsDriver | null {
  if (kernel !== "wasm") return null;
  if (driver === undefined) {
    const mod = lcsModule();
    const wasm = (globalThis as { WebAssembly?: unknown }).WebAssembly as Parameters<typeof createLcsDriver>[1] | undefined;
    driver = mod && wasm ? createLcsDriver(mod, wasm, lcsOfSymbols, charCodesInto) : null;
  }
  return driver;
}

const one = new Int32Array(1);
/**
 * LCS of two integer sequences of code points, or of ids interned over the pair (each below the pair's total
 * length; longer pairs than 0x110000 symbols take the JS kernel).
 */
export function lcsOfCodes(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = lcsDriver();
  if (!d || a.length === 0 || b.length === 0 || a.length + b.length > 0x110000) return lcsOfSymbols(a, b);
  d.symbols(1, (i) => (i ? b : a), one);
  return one[0]!;
}
