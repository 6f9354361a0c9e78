import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ReportFacts } from '../../src/incidents/index.js';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES } from '../helpers/operators.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review of 36dfb53 (+266ba18): a reinstated member is no attacker for the notices and the incident
 * report, but the campaign's own disclosure report (report.ts campaignReport) still lists the
 * people that person found as exposed accounts: the same campaign tells the operator two
 * different sets of exposed people (the one exported for disclosure counts an organic user's friends).
 */
const MIN = 60_000;
const answer = answerer(19500, T0);

describeEachDialect('review: campaign report counts a reinstated member as attacker', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    for (const id of ['rc-bot', 'rc-person', 'rc-victim', 'rc-friend']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('rc-bot', 'rc-victim', 1), answer('rc-person', 'rc-friend', 2)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the campaign report leaves out what the reinstated person found, as the incident report does', async () => {
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'rc-cluster', accountIds: ['rc-bot', 'rc-person'], score: 0.9, evidence: {} });
    await svc.ctx.incidents.enforcer.suspend(['rc-bot', 'rc-person'], { actor: 'engine', reason: 'enumeration', evidence: {}, campaignId, clusterId: 'rc-cluster' });
    svc.clock.set(T0 + 20 * MIN);
    expect((await svc.ctx.incidents.enforcer.reinstate('rc-person', { actor: 'op-b', reason: 'organic: a real person, appealed' })).reinstated).toBe(true);
    svc.clock.set(T0 + 60 * MIN);
    const id = await notifiedIncident(svc, [campaignId]);
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(1);

    const report = await svc.ctx.incidents.campaigns.campaignReport(campaignId);
    // Same campaign, same moment: the disclosure report must agree with the incident report.
    expect(report.exposures.accounts.map((a) => a.accountId)).toEqual(['rc-victim']);
    expect(report.exposures.count).toBe(facts.subjects.total);
  });

  it("the console's campaign exposures CSV does not list the reinstated person's friend as exposed either", async () => {
    const campaignId = (await svc.ctx.db.kysely.selectFrom('campaigns').select('id').executeTakeFirstOrThrow()).id;
    const op = await addOperator(svc, 'rc-viewer', 'viewer');
    const token = (await svc.ctx.operators.createToken('cli', op.id, 'script')).token;
    const res = await svc.app.inject({ method: 'GET', url: `/admin/v1/campaigns/${campaignId}/exposures.csv`, headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode, res.body).toBe(200);
    const exposed = res.body.trim().split('\r\n').slice(1).map((l) => l.split(',')[2]);
    expect(exposed).toEqual(['rc-victim']);
  });

  it("the campaign's exposed-account count (list, incident threshold) leaves the reinstated person's friend out when the campaign is recorded again", async () => {
    // The engine records the campaign again (a later evaluation of the same cluster); the reinstated person is still a member row.
    await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'rc-cluster', accountIds: ['rc-bot', 'rc-person'], score: 0.9, evidence: {} });
    const row = await svc.ctx.db.kysely.selectFrom('campaigns').select('summary').where('cluster_id', '=', 'rc-cluster').executeTakeFirstOrThrow();
    const summary = JSON.parse(row.summary) as { exposures: { accounts: number } };
    expect(summary.exposures.accounts).toBe(1);
  });
});
