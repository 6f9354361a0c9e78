import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentActor, ReportFacts } from '../src/incidents/index.js';
import { answerer } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * The report's attackers and counts follow what stands: a suspension an operator lifted is not
 * when an account was stopped (a later one is), and a member found after it was revealed is not
 * among the campaign's exposed accounts.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
const answer = answerer(9700, T0);

describeEachDialect('incident report: what stands', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['st-a', 'st-b', 'st-victim']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('st-a', 'st-b', 1), answer('st-a', 'st-victim', 2)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('stoppedAt is the suspension that stands; a later member is not counted as exposed', async () => {
    const campaigns = svc.ctx.incidents.campaigns;
    const { campaignId } = await campaigns.openCampaign({ clusterId: 'st-cluster', accountIds: ['st-a'], score: 0.9, evidence: {} });
    const enforcer = svc.ctx.incidents.enforcer;
    await enforcer.suspend(['st-a'], { actor: 'engine', reason: 'enumeration', evidence: {}, campaignId, clusterId: 'st-cluster' });
    svc.clock.set(T0 + 20 * MIN);
    expect((await enforcer.reinstate('st-a', { actor: 'op-b', reason: 'appeal' })).reinstated).toBe(true);
    svc.clock.set(T0 + 30 * MIN);
    await enforcer.suspend(['st-a'], { actor: 'op-b', reason: 'appeal rejected on review', evidence: {}, campaignId, clusterId: 'st-cluster' });
    svc.clock.set(T0 + 40 * MIN);
    await campaigns.openCampaign({ clusterId: 'st-cluster', accountIds: ['st-a', 'st-b'], score: 0.9, evidence: {} });
    expect((await campaigns.list()).find((c) => c.id === campaignId)?.exposedAccounts).toBe(1);
    // The campaign's own disclosure report agrees: st-b is a member now, not an exposed person.
    const report = await campaigns.campaignReport(campaignId);
    expect(report.exposures.accounts.map((e) => e.accountId)).toEqual(['st-victim']);
    expect(report.exposures.pairs).toBe(1);
    expect(report.accounts.find((m) => m.accountId === 'st-a')?.revealed).toBe(1);

    const id = (await svc.ctx.incidents.lifecycle.open({ title: 'Scan', campaignIds: [campaignId] }, by('op-a'))).id;
    const facts = (await svc.ctx.incidents.reports.document(id)).phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(1);
    const a = facts.attackers.find((x) => x.accountId === 'st-a');
    expect(a?.stoppedAt).toBe(new Date(T0 + 30 * MIN).toISOString());
    expect(a?.revealed).toBe(1);
  });
});
