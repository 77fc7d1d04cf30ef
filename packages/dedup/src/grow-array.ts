type TypedCtor<T> = { new (n: number): T };

/** An append-only typed array that doubles its capacity. */
export class GrowArray<T extends Uint8Array | Uint16Array | Int32Array | Float64Array> {
  private data: T;
  length = 0;
  constructor(
    private readonly ctor: TypedCtor<T>,
    initial = 1024,
  ) {
    this.data = new ctor(initial);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new this.ctor(this.data.length * 2);
      next.set(this.data as never);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  get(i: number): number {
    return this.data[i]!;
  }
  /** The filled part (a view; do not push afterwards). */
  view(): T {
    return this.data.subarray(0, this.length) as T;
  }
  /** The filled part as an exact-size copy; the array itself is emptied so its spare capacity can be freed. */
  take(): T {
    const out = this.data.slice(0, this.length) as T;
    this.data = new this.ctor(0);
    this.length = 0;
    return out;
  }
}

/**
 * A column of small non-negative integers (e.g. source numbers) stored in the narrowest of Uint8, Uint16 and
 * Int32 that holds every value so far: 1 byte per document for up to 255 distinct values.
 */
export class SmallIntColumn {
  private data: GrowArray<Uint8Array | Uint16Array | Int32Array> = new GrowArray<Uint8Array | Uint16Array | Int32Array>(Uint8Array);
  private max = 0xff;
  get length(): number {
    return this.data.length;
  }
  push(v: number): void {
    if (v > this.max) this.widen(v);
    this.data.push(v);
  }
  private widen(v: number): void {
    const ctor = v <= 0xffff ? Uint16Array : Int32Array;
    const next = new GrowArray<Uint8Array | Uint16Array | Int32Array>(ctor, Math.max(1024, this.data.length * 2));
    const old = this.data.view();
    for (let i = 0; i < old.length; i++) next.push(old[i]!);
    this.data = next;
    this.max = v <= 0xffff ? 0xffff : 0x7fffffff;
  }
  /** As {@link GrowArray.take}. */
  take(): Uint8Array | Uint16Array | Int32Array {
    return this.data.take();
  }
}
