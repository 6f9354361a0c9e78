import { describe, expect, it } from 'vitest';
import type { IpInfo, IpIntel } from '../net/index.js';
import { ManualClock } from '../util/clock.js';
import { defaultLimiter } from '../../test/helpers/limiter.js';
import type { Limiter, LimitRequest } from './limiter.js';
import type { Charge } from './store.js';
import { MemoryLimitStore } from './memory-store.js';

/**
 * The limiter keeps the charges it made per layer and subject (limiter.ts, CHARGE_CACHE_MAX): a
 * kept charge must never stand in for another tier's limits or another cost.
 */
const intel: IpIntel = {
  lookup: (ip: string): IpInfo => ({ ip, version: 4, country: 'DE', asn: 3320, hosting: false, subnet24: `${ip.split('.').slice(0, 3).join('.')}.0/24` }),
};
const DAY = 86_400_000;

function setup(): { limiter: Limiter; store: MemoryLimitStore; clock: ManualClock } {
  const clock = new ManualClock(1_000 * DAY);
  const store = new MemoryLimitStore();
  const limiter = defaultLimiter(intel, clock, store);
  return { limiter, store, clock };
}

const call = (createdAt: number, newNumbers = 1): LimitRequest => ({ accountId: 'acc_0000000000000000000001', deviceId: 'dev-1', ip: '81.2.69.160', account: { createdAt, phoneRegion: 'DE' }, operation: 'full-sync', newNumbers });

type Charges = { charges(req: LimitRequest, tier: string, ip: IpInfo | undefined): Charge[] };

describe('Limiter charges kept between calls', () => {
  it("a subject charged under one tier is charged by another tier's limits, and at a new cost, when those change", () => {
    const { limiter } = setup();
    const policy = limiter.policy;
    const made = limiter as unknown as Charges;
    const info = intel.lookup('81.2.69.160');
    const young = 1_000 * DAY - DAY;
    const expected = (tier: string, newNumbers: number) =>
      policy.layers
        // An IPv4 caller has no /48: that layer has no subject.
        .filter((l) => l.on.has('full-sync') && l.limitFor(tier) && l.subject !== 'subnet48')
        .map((l) => ({ layer: l.id, burst: l.limitFor(tier)!.burst, rate: l.limitFor(tier)!.rate, cost: l.cost === 'calls' ? 1 : newNumbers }));
    const seen = (charges: Charge[]) => charges.map((c) => ({ layer: c.layer, burst: c.burst, rate: c.rate, cost: c.cost }));
    for (const [tier, n] of [['trusted', 1], ['new', 1], ['new', 7], ['trusted', 7], ['new', 7]] as const) {
      expect(seen(made.charges(call(young, n), tier, info))).toEqual(expected(tier, n));
    }
    // Kept: the same call again is answered with the very same objects.
    const a = made.charges(call(young, 7), 'new', info);
    const b = made.charges(call(young, 7), 'new', info);
    expect(a.every((c, i) => c === b[i])).toBe(true);
  });

  it('a kept charge still charges: the budget runs out as before', async () => {
    const { limiter, clock } = setup();
    let allowed = 0;
    for (let i = 0; i < 500; i++) if (await limiter.check(call(clock.now() - DAY, 7)).then(() => true, () => false)) allowed++;
    expect(allowed).toBeGreaterThan(0);
    expect(allowed).toBeLessThan(500);
  });
});
