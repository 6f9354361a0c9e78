/**
 * A Map whose iteration order is recency of use, so expiring idle keys and enforcing a cap both
 * walk from the oldest entry and stop at the first one still wanted: O(expired), not O(size).
 * An entry is moved to the young end only when it was last moved over `REORDER_MS` ago: idle
 * times are days, and re-inserting on every event was most of the cost of a busy key.
 */
export const REORDER_MS = 3_600_000;

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

  /** The value for `key` marked used at `at` (moved to the young end now and then); undefined if absent. */
  touch(key: string, at: number): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    if (at - v.lastAt >= REORDER_MS) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    if (at > v.lastAt) v.lastAt = at;
    return v;
  }

  /** Adds a value absent so far (no closure per call: this runs for every event). */
  insert(key: string, v: V): V {
    if (this.map.size >= this.maxKeys) this.evictOldest();
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
