import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review of 36dfb53: reinstatedInForce (campaigns.ts) treats as "no attacker" any member with a
 * reinstatement on record and no unreversed suspension, whenever the reinstatement was. An account
 * reinstated months before (an old, unrelated appeal) that later takes part in a scan, in a
 * campaign opened without suspending it (an operator's campaign, an observe-only policy), is then
 * left out: the people it found get no Art. 34 notice and are no data subjects in the report.
 * The engine's own rule is bounded in time (sparedIfReinstatedSince: a reinstatement within its
 * grace); this one is not.
 */
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const answer = answerer(61000, T0);

describeEachDialect('review: an old reinstatement exempts a later attacker', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['or-atk', 'or-victim']) await mirrorAccount(svc, id, []);
    // Months earlier: suspended by mistake, reinstated on appeal.
    svc.clock.set(T0 - 120 * DAY);
    await svc.ctx.incidents.enforcer.suspend(['or-atk'], { actor: 'engine', reason: 'enumeration', evidence: {} });
    svc.clock.set(T0 - 119 * DAY);
    expect((await svc.ctx.incidents.enforcer.reinstate('or-atk', { actor: 'op-b', reason: 'organic, appealed' })).reinstated).toBe(true);
    // Now it really scans.
    svc.clock.set(T0);
    await svc.ctx.eventPipeline.process([answer('or-atk', 'or-victim', 1)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the person it found in this campaign is notified and counted', async () => {
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'or-cluster', accountIds: ['or-atk'], score: 0.9, evidence: {} });
    // The exposure is recorded; only the report and the notices leave it out.
    const stored = await svc.ctx.db.kysely.selectFrom('exposures').select('revealed_account_id').where('campaign_id', '=', campaignId).execute();
    expect(stored.map((r) => r.revealed_account_id)).toEqual(['or-victim']);
    const id = await notifiedIncident(svc, [campaignId]);
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(1);
    expect(await svc.ctx.incidents.notices.forAccount('or-victim')).toHaveLength(1);
  });
});
