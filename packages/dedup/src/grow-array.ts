type TypedCtor<T> = { new (n: number): T };

/** An append-only typed array that doubles its capacity. */
export class GrowArray<T extends Int32Array | Float64Array> {
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
