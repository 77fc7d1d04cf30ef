/** Scores batches of pairs on one instance of the LCS module (one per thread: it owns its memory). */
export interface LcsDriver {
  /**
   * Character tokens (code points, Python whitespace dropped, as `charCodes`) of `text(2k)` (candidate) and
   * `text(2k + 1)` (reference) for k < n, tokenized straight into Wasm memory: `lengths[2k]`, `lengths[2k+1]`
   * get the token counts, `lcs[k]` the LCS length.
   */
  chars(n: number, text: (i: number) => string, lcs: Int32Array, lengths: Int32Array): void;
  /** LCS of integer symbol sequences `side(2k)`, `side(2k + 1)`; every symbol must be an integer in [0, 0x10FFFF]. */
  symbols(n: number, side: (i: number) => ArrayLike<number>, lcs: Int32Array): void;
}

interface WasmLike {
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** One module instance and the limits its batches respect. Plain data, so the functions below stay self-contained. */
interface LcsState {
  /** Symbol → row table at offset 0, kept all zeros between pairs. */
  TABLE: number;
  /** Keeps (rows + 1) × words × 8 inside i32. */
  MAX_PATTERN: number;
  MAX_PAIRS: number;
  MAX_SYMS: number;
  mem: { buffer: ArrayBuffer; grow(pages: number): number };
  batch: (n: number, desc: number, out: number, table: number, pm: number, pmCap: number, vbuf: number) => void;
  heap: Int32Array;
  fallback: (a: ArrayLike<number>, b: ArrayLike<number>) => number;
  charsInto: (text: string, out: Int32Array, at: number) => number;
}

/**
 * A driver over a compiled `lcsModule()`. It and the `lcs*` functions below reach nothing outside their
 * arguments, so worker threads run them from source (`lcsDriverSource`): `fallback` is the JS kernel, for
 * patterns beyond the module's limits, and `charsInto` is `charCodesInto` (character tokens: code points minus
 * Python whitespace, written straight into Wasm memory).
 */
export function createLcsDriver(
  mod: object,
  wasm: WasmLike,
  fallback: (a: ArrayLike<number>, b: ArrayLike<number>) => number,
  charsInto: (text: string, out: Int32Array, at: number) => number,
): LcsDriver {
  const exports = new wasm.Instance(mod).exports;
  const mem = exports.mem as LcsState["mem"];
  const st: LcsState = {
    TABLE: 0x110000 * 2,
    MAX_PATTERN: 1 << 17,
    MAX_PAIRS: 1024,
    MAX_SYMS: 1 << 18,
    mem,
    batch: exports.batch as LcsState["batch"],
    heap: new Int32Array(mem.buffer),
    fallback,
    charsInto,
  };
  return {
    chars(n, text, lcs, lengths) {
      lcsRun(st, n, (i) => text(i).length, (i, at) => st.charsInto(text(i), st.heap, at), lcs, lengths);
    },
    symbols(n, side, lcs) {
      const put = (i: number, at: number) => {
        const s = side(i);
        for (let j = 0; j < s.length; j++) st.heap[at + j] = s[j]!;
        return s.length;
      };
      lcsRun(st, n, (i) => side(i).length, put, lcs, new Int32Array(2 * n));
    },
  };
}

/** Grows the module's memory to at least `bytes` and refreshes the heap view. */
export function lcsEnsure(st: LcsState, bytes: number): void {
  const have = st.mem.buffer.byteLength;
  if (bytes > have) st.mem.grow(Math.ceil((bytes - have) / 65536));
  if (st.heap.buffer !== st.mem.buffer) st.heap = new Int32Array(st.mem.buffer);
}

export function lcsCall(st: LcsState, n: number, desc: number, out: number, pm: number, pmCap: number, vbuf: number): void {
  try {
    st.batch(n, desc, out, 0, pm, pmCap, vbuf);
  } catch (e) {
    st.heap.fill(0, 0, st.TABLE >> 2); // a trap may leave rows behind
    throw e;
  }
}

/** Scores pairs k < n in batches: `bound(i)` is an upper bound on side i's length, `put(i, at)` writes it. */
export function lcsRun(
  st: LcsState,
  n: number,
  bound: (i: number) => number,
  put: (i: number, at: number) => number,
  lcs: Int32Array,
  lengths: Int32Array,
): void {
  for (let k0 = 0; k0 < n; ) {
    const plan = lcsPlanBatch(st, n, k0, bound);
    const np = plan.k1 - k0;
    const desc = st.TABLE;
    const out = desc + 16 * np;
    const vbuf = out + 4 * np;
    const symBase = vbuf + 8 * plan.words;
    const pm = (symBase + 4 * plan.syms + 7) & ~7;
    lcsEnsure(st, pm + plan.pmCap);
    let at = symBase >> 2;
    let long = false;
    for (let k = 0; k < np; k++) {
      const d = (desc >> 2) + 4 * k;
      const la = put(2 * (k0 + k), at);
      st.heap[d] = at << 2;
      st.heap[d + 1] = la;
      at += la;
      const lb = put(2 * (k0 + k) + 1, at);
      st.heap[d + 2] = at << 2;
      st.heap[d + 3] = lb;
      at += lb;
      lengths[2 * (k0 + k)] = la;
      lengths[2 * (k0 + k) + 1] = lb;
      if (Math.min(la, lb) > st.MAX_PATTERN) long = true;
    }
    const outAt = out >> 2;
    const tooLong = (k: number) => long && Math.min(st.heap[(desc >> 2) + 4 * k + 1]!, st.heap[(desc >> 2) + 4 * k + 3]!) > st.MAX_PATTERN;
    for (let k = 0; k < np; k++) if (tooLong(k)) st.heap[(desc >> 2) + 4 * k + 1] = st.heap[(desc >> 2) + 4 * k + 3] = 0;
    lcsCall(st, np, desc, out, pm, plan.pmCap, vbuf);
    for (let k = 0; k < np; k++) {
      let r = st.heap[outAt + k]!;
      if (r < 0 || tooLong(k)) r = lcsRetry(st, k, desc, out, pm, vbuf, r, lengths, k0);
      lcs[k0 + k] = r;
    }
    k0 = plan.k1;
  }
}

/** Pairs k0 … k1 − 1 of one batch, their symbol total, the widest pattern's words and the match table's size. */
export function lcsPlanBatch(st: LcsState, n: number, k0: number, bound: (i: number) => number): { k1: number; syms: number; words: number; pmCap: number } {
  let k1 = k0;
  let syms = 0;
  let pmCap = 1 << 16;
  let words = 1;
  while (k1 < n && k1 - k0 < st.MAX_PAIRS) {
    const a = bound(2 * k1);
    const b = bound(2 * k1 + 1);
    if (k1 > k0 && syms + a + b > st.MAX_SYMS) break;
    syms += a + b;
    const short = Math.min(a, b, st.MAX_PATTERN);
    words = Math.max(words, Math.ceil(short / 64));
    pmCap = Math.max(pmCap, Math.min(1 << 23, (short + 1) * Math.ceil(short / 64) * 8));
    k1++;
  }
  return { k1, syms, words, pmCap };
}

/** A pair whose match table outgrew pmCap (grow and rerun it alone) or the module's limits (JS kernel). */
export function lcsRetry(st: LcsState, k: number, desc: number, out: number, pm: number, vbuf: number, r: number, lengths: Int32Array, k0: number): number {
  const d = (desc >> 2) + 4 * k;
  const la = lengths[2 * (k0 + k)]!;
  const lb = lengths[2 * (k0 + k) + 1]!;
  const rows = -1 - r;
  const short = Math.min(la, lb);
  if (r < 0 && rows <= 65534 && short <= st.MAX_PATTERN) {
    const need = (rows + 1) * Math.ceil(short / 64) * 8;
    lcsEnsure(st, pm + need);
    lcsCall(st, 1, desc + 16 * k, out + 4 * k, pm, need, vbuf);
    return st.heap[(out >> 2) + k]!;
  }
  const a = st.heap.slice(st.heap[d]! >> 2, (st.heap[d]! >> 2) + la);
  const b = st.heap.slice(st.heap[d + 2]! >> 2, (st.heap[d + 2]! >> 2) + lb);
  return st.fallback(a, b);
}

/** The source of `createLcsDriver` and the functions it calls, for a worker thread to evaluate. */
export function lcsDriverSource(): string {
  return [createLcsDriver, lcsEnsure, lcsCall, lcsRun, lcsPlanBatch, lcsRetry].map((f) => f.toString()).join("\n");
}
