import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: exposure-rule.ts judged() exempts an exposure made up to an operator's reinstatement, and
 * (for a reinstatement older than the campaign) nothing answered after it; its comment relies on
 * "the campaign records every retained answer of its members, with its own time". It does not: an
 * exposure row keeps one time per (campaign, attacker, revealed), the first answer (EventScan.account,
 * Campaigns.recordExposures keeps the earlier time). An account that once found a friend organically,
 * was wrongly suspended and reinstated, and days later scans a list that shows that friend again:
 * the scan's answer is stored, but the row carries the organic time, before the reinstatement, so
 * the rule exempts it. The person the scan exposed gets no Art. 34 notice and is no data subject.
 * Fixed (sixteenth session): a pair keeps the first answer of each period (incidents/exposure-periods.ts).
 */
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const answer = answerer(89000, T0);

describeEachDialect('review: a rescan after an old reinstatement exposes a person once found organically', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['rr-atk', 'rr-friend', 'rr-stranger']) await mirrorAccount(svc, id, []);
    // Five days before: an organic lookup shows rr-friend (kept: within the 90-day retention).
    svc.clock.set(T0 - 5 * DAY);
    await svc.ctx.eventPipeline.process([answer('rr-atk', 'rr-friend', -5 * 24 * 60)]);
    // Suspended by mistake, reinstated on appeal.
    svc.clock.set(T0 - 3 * DAY);
    await svc.ctx.incidents.enforcer.suspend(['rr-atk'], { actor: 'engine', reason: 'enumeration', evidence: {} });
    svc.clock.set(T0 - 2 * DAY);
    expect((await svc.ctx.incidents.enforcer.reinstate('rr-atk', { actor: 'op-b', reason: 'organic, appealed' })).reinstated).toBe(true);
    // Now the account scans a list: it is shown rr-stranger and, again, rr-friend.
    svc.clock.set(T0);
    await svc.ctx.eventPipeline.process([answer('rr-atk', 'rr-stranger', 1), answer('rr-atk', 'rr-friend', 2)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('both people the scan found are notified and counted', async () => {
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'rr-cluster', accountIds: ['rr-atk'], score: 0.9, evidence: {} });
    const id = await notifiedIncident(svc, [campaignId]);
    expect(await svc.ctx.incidents.notices.forAccount('rr-stranger')).toHaveLength(1);
    // rr-friend was answered to the attacker account at T0+2min, two days after the reinstatement.
    expect(await svc.ctx.incidents.notices.forAccount('rr-friend')).toHaveLength(1);
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(2);
  });
});
