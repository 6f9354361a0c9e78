import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyCharges, type BreakerState, type BucketState, type StateAccess, type StateWrites } from './apply.js';
import { MemoryLimitStore } from './memory-store.js';
import type { ApplyInput, Charge } from './store.js';

/**
 * `now` is the calling node's clock, which can be behind the clock that last wrote a bucket (another
 * node's, or this process's before it stepped back). Whatever order the clocks come in, a bucket
 * must grant no more than its burst plus its rate times the time the latest clock has seen.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.parse('2026-11-01T12:00:00Z');
const charge = (over: Partial<Charge> = {}): Charge => ({
  layer: 'account-new',
  scope: 'account',
  key: 'account-new:a',
  cost: 1,
  burst: 10,
  rate: 2 / (10 * MINUTE),
  perMs: HOUR,
  shadow: false,
  ...over,
});
const input = (charges: Charge[], now: number): ApplyInput => ({ charges, proof: false, strikeWindowMs: 7 * 24 * HOUR, now });

/** applyCharges over plain maps that never forget: the rules alone, without a store's expiry. */
function bare(): { apply(input: ApplyInput): ReturnType<typeof applyCharges>; buckets: Map<string, BucketState> } {
  const buckets = new Map<string, BucketState>();
  const breakers = new Map<string, BreakerState>();
  const strikes = new Map<string, number>();
  const read: StateAccess = { bucket: (k) => buckets.get(k), breaker: (k) => breakers.get(k), strikes: (k) => strikes.get(k) ?? 0 };
  const write: StateWrites = {
    bucket: (k, tokens, ts) => void buckets.set(k, { tokens, ts }),
    breaker: (k, state) => void breakers.set(k, state),
    strike: (k) => void strikes.set(k, (strikes.get(k) ?? 0) + 1),
  };
  return { apply: (i) => applyCharges(i, read, write), buckets };
}

describe('a clock behind the bucket refills nothing', () => {
  it('a charge from a clock 10 minutes behind leaves the ts where it was: the clock ahead refills nothing again', () => {
    const s = bare();
    const skew = 10 * MINUTE;
    expect(s.apply(input([charge({ cost: 9 })], T0 + skew)).outcome).toBe('allowed');
    // Behind: the last token, and nothing refilled, by any clock.
    expect(s.apply(input([charge()], T0)).outcome).toBe('allowed');
    expect(s.buckets.get('account-new:a')).toEqual({ tokens: 0, ts: T0 + skew });
    // Back on the clock ahead, no time has passed: nothing.
    expect(s.apply(input([charge()], T0 + skew)).outcome).toBe('refused');
  });

  it('alternating calls between two clocks 10 minutes apart get the burst plus what the skew is worth once', () => {
    const s = bare();
    const skew = 10 * MINUTE;
    let granted = 0;
    // The first call on the clock behind: the clock ahead is worth 2 more tokens, once.
    if (s.apply(input([charge({ cost: 9 })], T0)).outcome === 'allowed') granted += 9;
    for (let round = 0; round < 20; round++) {
      if (s.apply(input([charge()], T0 + skew)).outcome === 'allowed') granted += 1;
      if (s.apply(input([charge()], T0)).outcome === 'allowed') granted += 1;
    }
    expect(granted).toBe(12);
  });

  it('tells a caller behind the bucket to wait for its clock to reach the bucket, then for the refill', () => {
    const s = bare();
    s.apply(input([charge({ cost: 10 })], T0 + 10 * MINUTE));
    // One token is 5 minutes of refill after T0 + 10 min: 15 minutes on a clock at T0 (give or
    // take the rounding of 1 / rate).
    const r = s.apply(input([charge()], T0));
    expect(r.outcome).toBe('refused');
    expect(r.retryAfterMs).toBeGreaterThanOrEqual(15 * MINUTE);
    expect(r.retryAfterMs).toBeLessThanOrEqual(15 * MINUTE + 1);
  });

  it('the memory store keeps a bucket written from behind until it is full by the clock ahead', async () => {
    // A clock stepping back by more than the refill time: the entry must not expire (and read as
    // full) by the earlier clock before the bucket's own ts has refilled it.
    const s = new MemoryLimitStore();
    const step = 2 * HOUR;
    expect((await s.apply(input([charge({ cost: 9 })], T0 + step))).outcome).toBe('allowed');
    expect((await s.apply(input([charge()], T0))).outcome).toBe('allowed');
    // 60 minutes later by the stepped-back clock: still an hour before T0 + step.
    s.sweep(T0 + HOUR);
    expect((await s.apply(input([charge()], T0 + HOUR))).outcome).toBe('refused');
  });
});

describe('the breaker with clocks that disagree', () => {
  it('a clock behind adds to the window the clock ahead opened, rather than starting an empty one', () => {
    // Its window only rolls forward (now >= ws + windowMs), so demand cannot be hidden by
    // alternating nodes: 3 x 150 passes the 400 (4 x baseline 100) it must not reach.
    const s = bare();
    const W = 5 * MINUTE;
    const breaker = { key: 'breaker:global', demand: 150, windowMs: W, alpha: 0.5, initialBaseline: 100, ratio: 4, minimum: 200, holdMs: 2 * W, share: 1, shadow: false };
    const at = (now: number) => s.apply({ ...input([], now), breaker });
    expect(at(T0 + 10 * MINUTE).tripped).toBe(false);
    expect(at(T0).tripped).toBe(false);
    expect(at(T0 + 10 * MINUTE).tripped).toBe(true);
  });
});

describe('property: granted <= burst + rate x (latest now - first now)', () => {
  const step = fc.record({
    // Real time passing, and how far this call's clock is off it (either way).
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5 * MINUTE }), fc.integer({ min: 0, max: 2 * HOUR })),
    jitterMs: fc.oneof(fc.constant(0), fc.integer({ min: -30 * MINUTE, max: 30 * MINUTE }), fc.integer({ min: -3 * HOUR, max: 3 * HOUR })),
    cost: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 12 }), fc.double({ min: 0.1, max: 6, noNaN: true })),
  });
  const scenario = fc.record({
    burst: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.double({ min: 0.5, max: 30, noNaN: true })),
    refillMs: fc.integer({ min: 1000, max: 6 * HOUR }),
    steps: fc.array(step, { minLength: 1, maxLength: 60 }),
  });

  /**
   * `first` is the clock of the first charge: a bucket no one has charged holds its burst by any
   * clock, so a refused call before it proves nothing about time. The memory store's entries expire
   * (read by each call's own clock) only once full, so its bound is the same.
   */
  type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

  async function check(sc: Scenario, apply: (i: ApplyInput) => Promise<{ outcome: string }>): Promise<void> {
    const rate = sc.burst / sc.refillMs;
    let real = T0;
    let first: number | undefined;
    let latest = -Infinity;
    let granted = 0;
    let allowed = 0;
    for (const st of sc.steps) {
      real += st.advanceMs;
      const now = real + st.jitterMs;
      latest = Math.max(latest, now);
      const c = charge({ key: 'k', burst: sc.burst, rate, cost: st.cost });
      if ((await apply(input([c], now))).outcome === 'allowed') {
        first ??= now;
        granted += st.cost;
        allowed++;
      }
      if (first === undefined) continue;
      // Each allowed charge may overdraw by the rules' epsilon (1e-9); the sums round a little.
      const bound = sc.burst + rate * (latest - first);
      expect(granted).toBeLessThanOrEqual(bound + 1e-9 * (allowed + 1) + 1e-12 * bound);
    }
  }

  it('holds for the rules alone', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const s = bare();
        await check(sc, async (i) => s.apply(i));
      }),
      { numRuns: 300 },
    );
  });

  it('holds for the memory store, whose entries expire', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const s = new MemoryLimitStore();
        await check(sc, (i) => s.apply(i));
      }),
      { numRuns: 300 },
    );
  });
});
