import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentActor, ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: a campaign's exposures leave out its own members (EventScan skips answers naming a member:
 * fleet accounts finding each other are no victims), and notices skip members. But the rule is
 * applied only when an exposure is first recorded: an account revealed to the fleet and later found
 * to be one of the fleet (the campaign extended with it) keeps its exposure row. The regulator's
 * report then counts that attacker account as an exposed data subject (and its revelation as a
 * record), the campaign's exposedAccounts counts it, while no notice goes to it: the report and the
 * notices disagree on who was exposed.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
const answer = answerer(9600, T0);

describeEachDialect('review: an account that joins the campaign is no exposed subject', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['mc-a', 'mc-b', 'mc-victim']) await mirrorAccount(svc, id, []);
    // mc-a's scan shows it mc-b (another fleet account, not yet known as one) and a real victim.
    await svc.ctx.eventPipeline.process([answer('mc-a', 'mc-b', 1), answer('mc-a', 'mc-victim', 2)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('counts only non-members as exposed', async () => {
    const campaigns = svc.ctx.incidents.campaigns;
    const { campaignId } = await campaigns.openCampaign({ clusterId: 'mc-cluster', accountIds: ['mc-a'], score: 0.9, evidence: {} });
    // The engine's next evaluation ties mc-b to the same cluster: the campaign is extended with it.
    svc.clock.set(T0 + 20 * MIN);
    const extended = await campaigns.openCampaign({ clusterId: 'mc-cluster', accountIds: ['mc-a', 'mc-b'], score: 0.9, evidence: {} });
    expect(extended.campaignId).toBe(campaignId);

    const id = (await svc.ctx.incidents.lifecycle.open({ title: 'Scan', campaignIds: [campaignId] }, by('op-a'))).id;
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    const csv = await svc.ctx.incidents.reports.csv(id);
    expect(csv).toContain('mc-victim');
    expect(csv).not.toContain('mc-b');
    expect(facts.subjects.total).toBe(1);
    expect(facts.records.total).toBe(1);
  });
});
