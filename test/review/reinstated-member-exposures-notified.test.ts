import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentActor, ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';
import { notifiedIncident } from '../helpers/incidents.js';

/**
 * Review: an operator reinstates a campaign member the engine took for part of the fleet (README:
 * "the appeal path (operators reinstate; account.reinstated) is what such a person has"): a person,
 * not a fake account. Their own address-book answers stay the campaign's exposures: when its
 * incident is notified, the friends that person found get an Art. 34 notice telling them "a network
 * of fake accounts ... learned that it belongs to your account", and the regulator's report counts
 * them as data subjects of the breach and the person as an attacker account. The engine already
 * leaves an account reinstated within the grace out of a campaign it opens
 * (test/review/spared-account-still-campaign-member); one reinstated after the campaign opened is
 * still treated as an attacker by the notices and the report.
 */
const MIN = 60_000;
const answer = answerer(9500, T0);

describeEachDialect('review: a reinstated member is no attacker', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['rm-bot', 'rm-person', 'rm-victim', 'rm-friend']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('rm-bot', 'rm-victim', 1), answer('rm-person', 'rm-friend', 2)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it("the reinstated person's friends get no breach notice", async () => {
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'rm-cluster', accountIds: ['rm-bot', 'rm-person'], score: 0.9, evidence: {} });
    await svc.ctx.incidents.enforcer.suspend(['rm-bot', 'rm-person'], { actor: 'engine', reason: 'enumeration', evidence: {}, campaignId, clusterId: 'rm-cluster' });
    // On appeal, an operator finds rm-person is a real user who synced their own address book.
    svc.clock.set(T0 + 20 * MIN);
    const r = await svc.ctx.incidents.enforcer.reinstate('rm-person', { actor: 'op-b', reason: 'organic: a real person, appealed' });
    expect(r.reinstated).toBe(true);

    svc.clock.set(T0 + 60 * MIN);
    const id = await notifiedIncident(svc, [campaignId]);

    expect(await svc.ctx.incidents.notices.forAccount('rm-victim')).toHaveLength(1);
    expect(await svc.ctx.incidents.notices.forAccount('rm-friend')).toEqual([]);
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(1);
  });
});
