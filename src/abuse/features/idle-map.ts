/**
 * A Map whose iteration order is recency of use, so expiring idle keys and enforcing a cap both
 * walk from the oldest entry and stop at the first one still wanted: O(expired), not O(size).
 */
export class IdleMap<V extends { lastAt: number }> {
  private readonly map = new Map<string, V>();

  constructor(
    private readonly idleMs: number,
    private readonly maxKeys: number,
    private readonly onEvict?: (key: string, value: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  /** The value for `key`, created if absent, marked used at `at` (moves it to the young end). */
  touch(key: string, at: number, create: () => V): V {
    let v = this.map.get(key);
    if (v === undefined) {
      v = create();
      if (this.map.size >= this.maxKeys) this.evictOldest();
    } else {
      this.map.delete(key);
    }
    if (at > v.lastAt) v.lastAt = at;
    this.map.set(key, v);
    return v;
  }

  /** Forgets keys idle since before `now - idleMs`. */
  expire(now: number): number {
    const cutoff = now - this.idleMs;
    let n = 0;
    for (const [k, v] of this.map) {
      // Out-of-order events can leave a slightly younger entry before an older one; stop anyway.
      if (v.lastAt >= cutoff) break;
      this.map.delete(k);
      this.onEvict?.(k, v);
      n++;
    }
    return n;
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  private evictOldest(): void {
    const first = this.map.entries().next();
    if (first.done) return;
    const [k, v] = first.value;
    this.map.delete(k);
    this.onEvict?.(k, v);
  }
}
