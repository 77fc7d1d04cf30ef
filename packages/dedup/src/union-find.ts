/**
 * Disjoint sets over 0..n−1 in one Int32Array (4 bytes per element): a root holds minus its set's size, any
 * other element its parent. Union by size, path halving; `find` is amortised almost O(1).
 */
export class UnionFind {
  private readonly parent: Int32Array;
  private sets: number;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`size must be a non-negative integer, got ${n}`);
    this.parent = new Int32Array(n).fill(-1);
    this.sets = n;
  }

  get size(): number {
    return this.parent.length;
  }

  /** Number of disjoint sets. */
  get count(): number {
    return this.sets;
  }

  /** Representative of `x`'s set. @throws RangeError when x is out of range. */
  find(x: number): number {
    if (!(x >= 0 && x < this.parent.length)) throw new RangeError(`element ${x} out of range 0..${this.parent.length - 1}`);
    const p = this.parent;
    for (;;) {
      const up = p[x]!;
      if (up < 0) return x;
      const g = p[up]!;
      if (g < 0) return up;
      p[x] = g;
      x = g;
    }
  }

  /** Merge the sets of `a` and `b`; returns false when they were already one set. */
  union(a: number, b: number): boolean {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return false;
    const p = this.parent;
    if (p[ra]! > p[rb]!) [ra, rb] = [rb, ra]; // ra: the larger set (more negative)
    p[ra]! += p[rb]!;
    p[rb] = ra;
    this.sets--;
    return true;
  }

  connected(a: number, b: number): boolean {
    return this.find(a) === this.find(b);
  }

  /** Size of `x`'s set. */
  setSize(x: number): number {
    return -this.parent[this.find(x)]!;
  }
}
