import { describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import type { Limiter, LimitRequest } from '../src/limits/limiter.js';
import { MemoryLimitStore } from '../src/limits/memory-store.js';
import type { ApplyInput, ApplyResult, LimitStore } from '../src/limits/store.js';
import type { IpInfo, IpIntel } from '../src/net/index.js';
import { ManualClock } from '../src/util/clock.js';
import { defaultLimiter } from './helpers/limiter.js';
import { describeRedis, redisLimitStores, uniquePrefix } from './helpers/redis.js';

/**
 * Scaled out, each serve node has its own limiter (and its own memory of an account's strikes)
 * over one shared store. Strikes collected on one node must move the account to its lower tier on
 * every node at once: a node that still remembers the older, lower count would charge the larger
 * buckets of a more trusted tier. test/limits-multinode.test.ts covers the buckets themselves with
 * three real processes; this covers the tier, in process, where the clock can be held still.
 *
 * Under the default policy an account older than 180 days without strikes is 'trusted' (10,000
 * new numbers), with one strike 'standard' (5,000).
 */
const DAY = 86_400_000;
const T0 = Date.parse('2026-11-01T12:00:00Z');
const intel: IpIntel = {
  lookup: (ip: string): IpInfo => ({ ip, version: 4, country: 'DE', asn: 3320, hosting: false, subnet24: `${ip.split('.').slice(0, 3).join('.')}.0/24` }),
};

/** A store that counts the round trips a limiter makes. */
class Counting implements LimitStore {
  applies = 0;
  reads = 0;
  constructor(private readonly inner: LimitStore) {}
  get kind(): LimitStore['kind'] {
    return this.inner.kind;
  }
  apply(input: ApplyInput): Promise<ApplyResult> {
    this.applies++;
    return this.inner.apply(input);
  }
  useOnce(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.inner.useOnce(key, ttlMs, now);
  }
  strikes(key: string, now: number): Promise<number> {
    this.reads++;
    return this.inner.strikes(key, now);
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Nodes {
  a: Limiter;
  b: Limiter;
  c: Limiter;
  storeA: Counting;
  clock: ManualClock;
}

function outcome(p: Promise<{ tier: string }>): Promise<string> {
  return p.then(
    (v) => `allowed:${v.tier}`,
    (err: unknown) => {
      if (err instanceof AppError) return err.code;
      throw err;
    },
  );
}

function suite(make: () => { a: LimitStore; b: LimitStore; c: LimitStore }): void {
  let n = 0;
  function nodes(): Nodes & { account: string } {
    const stores = make();
    const clock = new ManualClock(T0);
    const storeA = new Counting(stores.a);
    return { a: defaultLimiter(intel, clock, storeA), b: defaultLimiter(intel, clock, stores.b), c: defaultLimiter(intel, clock, stores.c), storeA, clock, account: `acc-${process.pid}-${n++}` };
  }
  const call = (accountId: string, newNumbers: number): LimitRequest => ({
    accountId,
    deviceId: `dev-${accountId}`,
    ip: '81.2.69.160',
    account: { createdAt: T0 - 365 * DAY, phoneRegion: 'DE' },
    operation: 'full-sync',
    newNumbers,
  });

  it("a strike on node B moves the account to its lower tier on node A at once, though A's memory of its strikes is warm", async () => {
    const { a, b, c, clock, account } = nodes();
    // A judges the account trusted and remembers its strikes (none).
    expect(await outcome(a.check(call(account, 1)))).toBe('allowed:trusted');
    clock.advance(1000);
    // On B a call past even the trusted budget is refused at account scope: one strike.
    expect(await outcome(b.check(call(account, 10_001)))).toBe('rate_limited');
    clock.advance(1000);
    // 6,000 new numbers fit the trusted budget (10,000) but not the standard one (5,000).
    expect(await outcome(a.check(call(account, 6000)))).toBe('rate_limited');
    expect(await outcome(a.check(call(account, 1)))).toBe('allowed:standard');
    // A node that never saw the account judges it the same.
    expect(await outcome(c.check(call(account, 1)))).toBe('allowed:standard');
  });

  it('answers a call with one round trip to the store, and with two only when the strikes crossed a tier since', async () => {
    const { a, b, storeA, clock, account } = nodes();
    // First call for an account without strikes: no separate read of the strikes.
    expect(await outcome(a.check(call(account, 1)))).toBe('allowed:trusted');
    expect([storeA.applies, storeA.reads]).toEqual([1, 0]);
    expect(await outcome(a.check(call(account, 1)))).toBe('allowed:trusted');
    expect([storeA.applies, storeA.reads]).toEqual([2, 0]);
    expect(await outcome(b.check(call(account, 10_001)))).toBe('rate_limited');
    clock.advance(1000);
    expect(await outcome(a.check(call(account, 1)))).toBe('allowed:standard');
    expect([storeA.applies, storeA.reads]).toEqual([4, 0]);
    // A second strike keeps the account standard: nothing to judge again.
    expect(await outcome(b.check(call(account, 10_001)))).toBe('rate_limited');
    expect(await outcome(a.check(call(account, 1)))).toBe('allowed:standard');
    expect([storeA.applies, storeA.reads]).toEqual([5, 0]);
  });
}

describe('limits across nodes: strikes and trust tier (one shared memory store)', () => {
  suite(() => {
    const shared = new MemoryLimitStore();
    return { a: shared, b: shared, c: shared };
  });

  it('strikes that expired on the shared store give the more trusted tier back on every node', async () => {
    const shared = new MemoryLimitStore();
    const clock = new ManualClock(T0);
    const [a, b] = [defaultLimiter(intel, clock, shared), defaultLimiter(intel, clock, shared)];
    const req: LimitRequest = { accountId: 'acc-expiry', deviceId: 'dev-expiry', ip: '81.2.69.160', account: { createdAt: T0 - 365 * DAY, phoneRegion: 'DE' }, operation: 'full-sync', newNumbers: 1 };
    expect(await outcome(a.check(req))).toBe('allowed:trusted');
    expect(await outcome(b.check({ ...req, newNumbers: 10_001 }))).toBe('rate_limited');
    expect(await outcome(a.check(req))).toBe('allowed:standard');
    // The default strike window is 7 days.
    clock.advance(7 * DAY + 1);
    expect(await outcome(a.check(req))).toBe('allowed:trusted');
  });
});

describeRedis('limits across nodes: strikes and trust tier (three Redis connections, one Redis)', () => {
  const open = redisLimitStores(uniquePrefix('limits-multinode-strikes'));
  suite(() => ({ a: open(), b: open(), c: open() }));
});
