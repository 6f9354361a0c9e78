import { describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import type { LimitRequest } from '../src/limits/limiter.js';
import { MemoryLimitStore } from '../src/limits/memory-store.js';
import type { LimitStore } from '../src/limits/store.js';
import type { IpInfo, IpIntel } from '../src/net/index.js';
import { compilePolicy } from '../src/policy/index.js';
import { ManualClock } from '../src/util/clock.js';
import { defaultLimiter } from './helpers/limiter.js';
import { describeRedis, redisLimitStores, uniquePrefix } from './helpers/redis.js';

/**
 * What a refusal tells the caller to wait for. A bucket that refills: until it holds the call. A
 * budget of 0, which never refills (the default policy's new accounts on hosting networks: a VPN
 * user's first week): until the account's age moves it to a tier whose limit holds the call. Before,
 * such a refusal said a day (the bucket's period), and an app that waited as told was refused again,
 * daily, for a week. The same with the limits in memory and in Redis.
 */
const DAY = 86_400_000;
const T0 = Date.parse('2026-11-01T12:00:00Z');
const intel = (hosting: boolean): IpIntel => ({
  lookup: (ip: string): IpInfo => ({ ip, version: 4, country: 'GB', asn: hosting ? 8075 : 2856, hosting, subnet24: `${ip.split('.').slice(0, 3).join('.')}.0/24` }),
});

async function refusal(p: Promise<unknown>): Promise<{ retryAfter: number; scope: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError && err.code === 'rate_limited') return err.details as { retryAfter: number; scope: string };
    throw err;
  }
  throw new Error('allowed');
}

function suite(open: () => LimitStore): void {
  let n = 0;
  const req = (createdAt: number, newNumbers: number): LimitRequest => {
    const id = `acc-${process.pid}-${n++}`;
    return { accountId: id, deviceId: `dev-${id}`, ip: `51.105.${n % 250}.7`, account: { createdAt, phoneRegion: 'GB' }, operation: 'full-sync', newNumbers };
  };

  it('a new account on a hosting network is told to come back when it is a week old, and is answered then', async () => {
    const clock = new ManualClock(T0);
    const limiter = defaultLimiter(intel(true), clock, open());
    const call = req(T0 - 2 * DAY + 5_000, 300);
    expect(await refusal(limiter.check(call))).toEqual({ retryAfter: (5 * DAY + 5_000) / 1000, scope: 'account' });
    clock.advance(5 * DAY + 4_000);
    expect(await refusal(limiter.check(call))).toEqual({ retryAfter: 1, scope: 'account' });
    clock.advance(1_000);
    // The hosting tier asks a proof-of-work for every call: the account-new layer no longer refuses.
    await expect(limiter.check(call)).rejects.toMatchObject({ code: 'challenge_required' });
  });

  it('a bucket that refills still tells the wait until it holds the call', async () => {
    const clock = new ManualClock(T0);
    const limiter = defaultLimiter(intel(false), clock, open());
    const call = req(T0 - 30 * DAY, 5_000);
    await limiter.check(call);
    // The standard tier: 5,000 + 1,000 a day; 500 more need half a day.
    expect(await refusal(limiter.check({ ...call, newNumbers: 500 }))).toEqual({ retryAfter: DAY / 2 / 1000, scope: 'account' });
  });
}

describe('retry-after of a refusal (limits in memory)', () => {
  suite(() => new MemoryLimitStore());

  it('an allowance that never refills, used up, is lifted by a tier whose limit refills, not by one that never does', async () => {
    const clock = new ManualClock(T0);
    const policy = compilePolicy({
      name: 'lifetime',
      tiers: [
        { name: 'trial', when: { accountAgeBelow: '3d' } },
        { name: 'probation', when: { accountAgeBelow: '10d' } },
        { name: 'member' },
      ],
      layers: [
        {
          id: 'acct',
          subject: 'account',
          cost: 'new',
          limits: { trial: { burst: 10, refill: 0, per: '1d' }, probation: { burst: 50, refill: 0, per: '1d' }, member: { burst: 100, refill: 100, per: '1d' } },
        },
      ],
    });
    const limiter = defaultLimiter(intel(false), clock, new MemoryLimitStore(), policy);
    const call: LimitRequest = { accountId: 'trial-acc', deviceId: 'dev-trial', ip: '81.2.69.160', account: { createdAt: T0 - DAY, phoneRegion: 'GB' }, operation: 'full-sync', newNumbers: 10 };
    await limiter.check(call);
    // Day 1 of 3: probation (50, never refilled) would not lift it; member at 10 days does.
    expect(await refusal(limiter.check({ ...call, newNumbers: 5 }))).toEqual({ retryAfter: (9 * DAY) / 1000, scope: 'account' });
  });
});

describeRedis('retry-after of a refusal (limits in Redis)', () => suite(redisLimitStores(uniquePrefix('limits-retry-after-tier'))));
