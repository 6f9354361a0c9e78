import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SignupHold } from '../../src/incidents/index.js';
import { compilePolicy, DEFAULT_ABUSE_POLICY } from '../../src/policy/index.js';
import { lookup, mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Found in review, fixed: DecisionCache.standing returned the account's own strongest decision as
 * soon as it had one and only then looked at sign-up holds. A farm newcomer signed up on a
 * suspended account's device is held (403) for its first hour; once the engine (or an operator)
 * merely throttled or challenged it, the weaker own decision replaced the hold and the newcomer
 * was answered again. standing() now returns the stronger of the two.
 */
const HOUR = 3_600_000;
const HOLDS: SignupHold[] = [{ accountId: 'farmer', scope: 'device', subject: 'farm-dev' }];

function policy() {
  return compilePolicy({
    name: 'review-hold',
    tiers: [{ name: 'all' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { all: { burst: 400, refill: 0, per: '1d' } } }],
    abuse: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' },
  });
}

describeEachDialect('sign-up hold against a weaker own decision', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, { policy: policy(), incidents: { decisions: { pollMs: 100, maxAgeMs: 500 } } });
    await mirrorAccount(svc, 'farmer', [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
    await svc.ctx.incidents.enforcer.suspend(['farmer'], { actor: 'engine', evidence: {}, reason: 'farm', holds: HOLDS });
    svc.clock.set(T0 + 60_000);
    await mirrorAccount(svc, 'newcomer', [], { signup: { ip: '81.2.69.160', deviceId: 'farm-dev' }, phoneRegion: 'US' });
  });
  afterAll(async () => svc.stop());

  it('a throttled newcomer on a held device is still held', async () => {
    const status = async () => (await lookup(svc, await svc.tokenFor('newcomer'), { phone: '+14155550101' })).statusCode;
    expect(await status()).toBe(403);
    await svc.ctx.incidents.enforcer.throttle(['newcomer'], T0 + 2 * HOUR, { actor: 'engine', evidence: {}, reason: 'looks odd' });
    expect(await status()).toBe(403);
  });
});
