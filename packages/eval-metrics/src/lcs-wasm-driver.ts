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

/**
 * A driver over a compiled `lcsModule()`. One self-contained function (it reaches nothing outside its
 * arguments), so worker threads run it from source: `fallback` is the JS kernel, for patterns beyond the module's limits, and
 * `isWhitespace` is `isPythonWhitespace` (character tokens drop those code points, as `charCodes` does).
 */
export function createLcsDriver(
  mod: object,
  wasm: WasmLike,
  fallback: (a: ArrayLike<number>, b: ArrayLike<number>) => number,
  isWhitespace: (cp: number) => boolean,
): LcsDriver {
  const TABLE = 0x110000 * 2; // symbol → row table, kept all zeros between pairs
  const MAX_PATTERN = 1 << 17; // keeps (rows + 1) × words × 8 inside i32
  const MAX_PAIRS = 1024;
  const MAX_SYMS = 1 << 18;
  const exports = new wasm.Instance(mod).exports;
  const mem = exports.mem as { buffer: ArrayBuffer; grow(pages: number): number };
  const batch = exports.batch as (n: number, desc: number, out: number, table: number, pm: number, pmCap: number, vbuf: number) => void;
  let heap = new Int32Array(mem.buffer);
  const ensure = (bytes: number) => {
    const have = mem.buffer.byteLength;
    if (bytes > have) mem.grow(Math.ceil((bytes - have) / 65536));
    if (heap.buffer !== mem.buffer) heap = new Int32Array(mem.buffer);
  };
  const call = (n: number, desc: number, out: number, pm: number, pmCap: number, vbuf: number) => {
    try {
      batch(n, desc, out, 0, pm, pmCap, vbuf);
    } catch (e) {
      heap.fill(0, 0, TABLE >> 2); // a trap may leave rows behind
      throw e;
    }
  };

  /** Code points of `s` minus Python whitespace into heap[at…]; returns the count. */
  function charsInto(s: string, at: number): number {
    const h = heap;
    let n = at;
    for (let i = 0; i < s.length; i++) {
      let cp = s.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
        const lo = s.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = (cp - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
          i++;
        }
      }
      if (cp <= 0x3000 && isWhitespace(cp)) continue;
      h[n++] = cp;
    }
    return n - at;
  }

  function run(n: number, bound: (i: number) => number, put: (i: number, at: number) => number, lcs: Int32Array, lengths: Int32Array) {
    for (let k0 = 0; k0 < n; ) {
      let k1 = k0;
      let syms = 0;
      let pmCap = 1 << 16;
      let words = 1;
      while (k1 < n && k1 - k0 < MAX_PAIRS) {
        const a = bound(2 * k1);
        const b = bound(2 * k1 + 1);
        if (k1 > k0 && syms + a + b > MAX_SYMS) break;
        syms += a + b;
        const short = Math.min(a, b, MAX_PATTERN);
        words = Math.max(words, Math.ceil(short / 64));
        pmCap = Math.max(pmCap, Math.min(1 << 23, (short + 1) * Math.ceil(short / 64) * 8));
        k1++;
      }
      const np = k1 - k0;
      const desc = TABLE;
      const out = desc + 16 * np;
      const vbuf = out + 4 * np;
      const symBase = vbuf + 8 * words;
      const pm = (symBase + 4 * syms + 7) & ~7;
      ensure(pm + pmCap);
      let at = symBase >> 2;
      let long = false;
      for (let k = 0; k < np; k++) {
        const d = (desc >> 2) + 4 * k;
        const la = put(2 * (k0 + k), at);
        heap[d] = at << 2;
        heap[d + 1] = la;
        at += la;
        const lb = put(2 * (k0 + k) + 1, at);
        heap[d + 2] = at << 2;
        heap[d + 3] = lb;
        at += lb;
        lengths[2 * (k0 + k)] = la;
        lengths[2 * (k0 + k) + 1] = lb;
        if (Math.min(la, lb) > MAX_PATTERN) long = true;
      }
      const outAt = out >> 2;
      const tooLong = (k: number) => long && Math.min(heap[(desc >> 2) + 4 * k + 1]!, heap[(desc >> 2) + 4 * k + 3]!) > MAX_PATTERN;
      for (let k = 0; k < np; k++) if (tooLong(k)) heap[(desc >> 2) + 4 * k + 1] = heap[(desc >> 2) + 4 * k + 3] = 0;
      call(np, desc, out, pm, pmCap, vbuf);
      for (let k = 0; k < np; k++) {
        let r = heap[outAt + k]!;
        if (r < 0 || tooLong(k)) r = retry(k, desc, out, pm, vbuf, r, lengths, k0);
        lcs[k0 + k] = r;
      }
      k0 = k1;
    }
  }

  /** A pair whose match table outgrew pmCap (grow and rerun it alone) or the module's limits (JS kernel). */
  function retry(k: number, desc: number, out: number, pm: number, vbuf: number, r: number, lengths: Int32Array, k0: number): number {
    const d = (desc >> 2) + 4 * k;
    const la = lengths[2 * (k0 + k)]!;
    const lb = lengths[2 * (k0 + k) + 1]!;
    const rows = -1 - r;
    const short = Math.min(la, lb);
    if (r < 0 && rows <= 65534 && short <= MAX_PATTERN) {
      const need = (rows + 1) * Math.ceil(short / 64) * 8;
      ensure(pm + need);
      call(1, desc + 16 * k, out + 4 * k, pm, need, vbuf);
      return heap[(out >> 2) + k]!;
    }
    const a = heap.slice(heap[d]! >> 2, (heap[d]! >> 2) + la);
    const b = heap.slice(heap[d + 2]! >> 2, (heap[d + 2]! >> 2) + lb);
    return fallback(a, b);
  }

  return {
    chars(n, text, lcs, lengths) {
      run(n, (i) => text(i).length, (i, at) => charsInto(text(i), at), lcs, lengths);
    },
    symbols(n, side, lcs) {
      const lengths = new Int32Array(2 * n);
      run(
        n,
        (i) => side(i).length,
        (i, at) => {
          const s = side(i);
          for (let j = 0; j < s.length; j++) heap[at + j] = s[j]!;
          return s.length;
        },
        lcs,
        lengths,
      );
    },
  };
}
