import { applyCharges, type BreakerState, type BucketState } from './apply.js';
import type { ApplyInput, ApplyResult, LimitStore } from './store.js';

interface Entry<T> {
  value: T;
  expires: number;
}

/**
 * Limits in this process, for the embedded default (one node). Entries expire once their bucket
 * has refilled, so memory follows active callers, not all callers ever seen.
 */
export class MemoryLimitStore implements LimitStore {
  readonly kind = 'memory' as const;
  private readonly buckets = new Map<string, Entry<BucketState>>();
  private readonly breakers = new Map<string, Entry<BreakerState>>();
  private readonly counters = new Map<string, Entry<number>>();
  private readonly once = new Map<string, number>();
  private ops = 0;

  async apply(input: ApplyInput): Promise<ApplyResult> {
    const now = input.now;
    if (++this.ops % 4096 === 0) this.sweep(now);
    const { result, writes } = applyCharges(input, {
      bucket: (k) => live(this.buckets.get(k), now),
      breaker: (k) => live(this.breakers.get(k), now),
      strikes: (k) => live(this.counters.get(k), now) ?? 0,
    });
    for (const w of writes.buckets) this.buckets.set(w.key, { value: w.state, expires: now + w.ttlMs });
    if (writes.breaker) this.breakers.set(writes.breaker.key, { value: writes.breaker.state, expires: now + writes.breaker.ttlMs });
    if (writes.strike) {
      const n = (live(this.counters.get(writes.strike.key), now) ?? 0) + 1;
      this.counters.set(writes.strike.key, { value: n, expires: now + writes.strike.ttlMs });
    }
    return result;
  }

  async useOnce(key: string, ttlMs: number, now: number): Promise<boolean> {
    const until = this.once.get(key);
    if (until !== undefined && until > now) return false;
    this.once.set(key, now + ttlMs);
    return true;
  }

  async strikes(key: string, now: number): Promise<number> {
    return live(this.counters.get(key), now) ?? 0;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.buckets.clear();
    this.breakers.clear();
    this.counters.clear();
    this.once.clear();
  }

  /** Entries held (for tests of expiry). */
  get size(): number {
    return this.buckets.size + this.breakers.size + this.counters.size + this.once.size;
  }

  sweep(now: number): void {
    for (const m of [this.buckets, this.breakers, this.counters] as Array<Map<string, Entry<unknown>>>) {
      for (const [k, e] of m) if (e.expires <= now) m.delete(k);
    }
    for (const [k, until] of this.once) if (until <= now) this.once.delete(k);
  }
}

function live<T>(e: Entry<T> | undefined, now: number): T | undefined {
  return e && e.expires > now ? e.value : undefined;
}
