import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import type { IncidentActor, ReportFacts } from '../../src/incidents/index.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: the regulator's report counts "records" as (attacker account, exposed account) pairs:
 * one account revealed to one attacker account (README, Art. 33(3)(a)). Exposures are stored per
 * campaign, and an attacker account can be a member of two campaigns (two clusters, e.g. the
 * engine's in-memory cluster ids after a restart or on another partition). An incident that
 * gathers both counts each of that attacker's revelations once per campaign in records.total,
 * while records.byCountry (and the CSV's attacker_accounts) count it once: the report
 * contradicts itself and overstates the records to the regulator.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
let n = 0;
const answer = (attacker: string, revealed: string, minute: number): LookupEvent =>
  makeEvent(++n + 8000, { accountId: attacker, at: T0 + minute * MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: report records across campaigns sharing an attacker', (dialect) => {
  let svc: TestService;
  let incidentId: string;

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['rd-atk', 'rd-atk2', 'rd-v1', 'rd-v2']) await mirrorAccount(svc, id, [], { phoneRegion: 'DE' });
    await svc.ctx.eventPipeline.process([answer('rd-atk', 'rd-v1', 1), answer('rd-atk2', 'rd-v2', 2)]);
    svc.clock.set(T0 + 10 * MIN);
    const campaigns = svc.ctx.incidents.campaigns;
    const a = await campaigns.openCampaign({ clusterId: 'rd-cluster-a', accountIds: ['rd-atk'], score: 0.9, evidence: { detector: 'test' } });
    const b = await campaigns.openCampaign({ clusterId: 'rd-cluster-b', accountIds: ['rd-atk', 'rd-atk2'], score: 0.9, evidence: { detector: 'test' } });
    incidentId = (await svc.ctx.incidents.lifecycle.open({ title: 'One scan, two clusters', campaignIds: [a.campaignId, b.campaignId] }, by('op-a'))).id;
  }, 120_000);
  afterAll(async () => svc?.stop());

  it('counts one record per (attacker account, exposed account)', async () => {
    const doc = await svc.ctx.incidents.reports.document(incidentId);
    const facts = doc.phases[0]!.facts as ReportFacts;
    expect(facts.subjects.total).toBe(2);
    // rd-v1 shown to rd-atk, rd-v2 shown to rd-atk2: two records.
    const byCountry = facts.records.byCountry.reduce((s, c) => s + c.records, 0);
    expect(byCountry).toBe(2);
    expect(facts.records.total).toBe(byCountry);
  });
});
