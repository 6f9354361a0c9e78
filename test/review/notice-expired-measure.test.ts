import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';
import { notifiedIncident } from '../helpers/incidents.js';

/**
 * Review: an exposure notice's `measures` is "the strongest standing restriction on each attacker
 * account that saw this account, and when" (README, Art. 34 table; 33(3)(d)). ExposureNotices.measures
 * reads every enforcement action not reversed, whatever its expiry: an attacker account throttled
 * (or challenged) for an hour weeks before the notification, and free ever since, is reported to the
 * exposed person as restricted (`actions: [{action: 'throttle', ...}]`), a measure that no longer
 * stands.
 */
const MIN = 60_000;
const DAY = 86_400_000;
const answer = (revealed: string): LookupEvent => makeEvent(9201, { accountId: 'em-atk', at: T0 + MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: a notice names only measures that stand', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['em-atk', 'em-v1']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('em-v1')]);
    svc.clock.set(T0 + 10 * MIN);
    // The engine throttles the attacker account for one hour; nothing more is done to it.
    await svc.ctx.incidents.enforcer.throttle(['em-atk'], T0 + 70 * MIN, { actor: 'engine', reason: 'fast lookups', evidence: {} });
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('an expired throttle is not reported as a measure in force', async () => {
    const campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'em-cluster', accountIds: ['em-atk'], score: 0.9, evidence: {} })).campaignId;
    // Weeks later the incident is written up, approved and notified.
    svc.clock.set(T0 + 20 * DAY);
    const id = await notifiedIncident(svc, [campaignId]);

    const [notice] = await svc.ctx.incidents.notices.forAccount('em-v1');
    expect(notice).toBeDefined();
    expect(notice!.measures.actions).toEqual([]);
  });
});
