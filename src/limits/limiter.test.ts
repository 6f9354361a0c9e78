import { describe, expect, it } from 'vitest';
import type { IpInfo, IpIntel } from '../net/index.js';
import { ManualClock } from '../util/clock.js';
import { defaultLimiter } from '../../test/helpers/limiter.js';
import type { Limiter, LimitRequest } from './limiter.js';

/** An intel that answers every address from one country and counts what it is asked. */
function countingIntel(): IpIntel & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookup(ip: string): IpInfo {
      asked.push(ip);
      return { ip, version: 4, country: 'DE', asn: 3320, hosting: false, subnet24: `${ip.split('.').slice(0, 3).join('.')}.0/24` };
    },
  };
}

const limiter = (intel: IpIntel, clock: ManualClock): Limiter => defaultLimiter(intel, clock);

const call = (ip: string): LimitRequest => ({ accountId: 'acc_0000000000000000000001', ip, account: { createdAt: 0 }, operation: 'lookup', newNumbers: 1 });

describe('Limiter', () => {
  it("reads an address's intelligence once within 10 s, and again after", async () => {
    const intel = countingIntel();
    const clock = new ManualClock(1_000_000_000_000);
    const l = limiter(intel, clock);
    const first = await l.check(call('81.2.69.160'));
    await l.check(call('81.2.69.160'));
    await l.check(call('81.2.69.161'));
    expect(intel.asked).toEqual(['81.2.69.160', '81.2.69.161']);
    expect(first.ip).toMatchObject({ ip: '81.2.69.160', country: 'DE', asn: 3320 });
    clock.advance(10_001);
    const later = await l.check(call('81.2.69.160'));
    expect(intel.asked).toEqual(['81.2.69.160', '81.2.69.161', '81.2.69.160']);
    expect(later).toEqual(first);
  });
});
