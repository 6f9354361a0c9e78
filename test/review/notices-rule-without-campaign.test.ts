import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: the notices apply the exposure rule (exposure-rule.ts) to rows read WITHOUT their
 * campaign_id (notices.ts exposedAccounts selects revealed/attacker/at only), so each row is judged
 * as for the latest-detected campaign of the incident, while the report, its evidence and CSV judge
 * each row by its own campaign. With an incident of two campaigns detected at different times and a
 * member of the earlier one reinstated between the two detections, the friends that person finds
 * after the reinstatement are no exposure for the report (judgedPart: reinstated after its campaign
 * was detected) but do get an Art. 34 breach notice, and the incident's `notices` no longer equals
 * the report's subjects.total.
 */
const MIN = 60_000;
const answer = answerer(71000, T0);

describeEachDialect('review: notices judge exposures by their own campaign', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['nr-bot', 'nr-person', 'nr-bot2', 'nr-v1', 'nr-v2', 'nr-friend']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('nr-bot', 'nr-v1', 1), answer('nr-bot2', 'nr-v2', 2)]);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('a reinstated member\'s later lookups are no exposure for the notices either', async () => {
    const { campaigns, enforcer } = svc.ctx.incidents;
    svc.clock.set(T0 + 10 * MIN);
    const c1 = await campaigns.openCampaign({ clusterId: 'nr-cluster-1', accountIds: ['nr-bot', 'nr-person'], score: 0.9, evidence: {} });
    await enforcer.suspend(['nr-bot', 'nr-person'], { actor: 'engine', reason: 'enumeration', evidence: {}, campaignId: c1.campaignId, clusterId: 'nr-cluster-1' });
    // On appeal: nr-person is a real user.
    svc.clock.set(T0 + 20 * MIN);
    expect((await enforcer.reinstate('nr-person', { actor: 'op-b', reason: 'organic: a real person, appealed' })).reinstated).toBe(true);
    // The person uses the app again and finds a friend; the open campaign records it (late-exposure check).
    svc.clock.set(T0 + 25 * MIN);
    await svc.ctx.eventPipeline.process([answer('nr-person', 'nr-friend', 25)]);
    // Another cluster, detected later.
    svc.clock.set(T0 + 30 * MIN);
    const c2 = await campaigns.openCampaign({ clusterId: 'nr-cluster-2', accountIds: ['nr-bot2'], score: 0.9, evidence: {} });

    svc.clock.set(T0 + 60 * MIN);
    const id = await notifiedIncident(svc, [c1.campaignId, c2.campaignId]);
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    // The report: nr-v1 and nr-v2, not the reinstated person's friend.
    expect(facts.subjects.total).toBe(2);
    // The notices must agree.
    expect(await svc.ctx.incidents.notices.forAccount('nr-friend')).toEqual([]);
    expect((await svc.ctx.incidents.lifecycle.get(id)).notices).toBe(facts.subjects.total);
  });
});
