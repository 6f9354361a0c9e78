import { afterAll, beforeAll, expect, it } from 'vitest';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: "one notice per exposure, whichever incident tells it first" (notices.ts toldElsewhere)
 * takes every exposure pair another incident's campaigns hold for the person as already told, as
 * soon as that incident has any notice row for them. But that incident's notice was written once,
 * from the pairs known when it was notified: a pair its campaign records later (a late answer,
 * catchUp) is never told by it, as (incident, account) is unique. A second incident whose campaign
 * holds the same late pair then writes a `covered` row and sends nothing: the person is never
 * told of that attacker account, and the delivery list says another notice had told them.
 */
const MIN = 60_000;
const answer = answerer(73000, T0);

describeEachDialect('review: a late pair is not covered by a notice written before it', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['cv-x', 'cv-y', 'cv-victim']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('cv-x', 'cv-victim', 1)]);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the person is told of every attacker account that found them', async () => {
    const { campaigns, notices } = svc.ctx.incidents;
    svc.clock.set(T0 + 10 * MIN);
    const a = await campaigns.openCampaign({ clusterId: 'cv-cluster-a', accountIds: ['cv-x', 'cv-y'], score: 0.9, evidence: {} });
    svc.clock.set(T0 + 15 * MIN);
    await notifiedIncident(svc, [a.campaignId], 'Scan A');
    const first = await notices.forAccount('cv-victim');
    expect(first).toHaveLength(1);
    expect(first[0]!.exposure.attackerAccounts).toBe(1); // cv-x only

    // cv-y's answer reaches the store late; campaign A records it (catchUp). Incident A has told cv-victim already.
    svc.clock.set(T0 + 20 * MIN);
    await svc.ctx.eventPipeline.process([answer('cv-y', 'cv-victim', 16)]);
    // cv-y is also caught in another cluster, whose campaign gets its own incident.
    svc.clock.set(T0 + 30 * MIN);
    const b = await campaigns.openCampaign({ clusterId: 'cv-cluster-b', accountIds: ['cv-y'], score: 0.9, evidence: {} });
    svc.clock.set(T0 + 40 * MIN);
    const idB = await notifiedIncident(svc, [b.campaignId], 'Scan B');

    // Nobody has told cv-victim about cv-y: incident B must.
    const page = await notices.deliveries(idB);
    expect(page.counts.covered ?? 0).toBe(0);
    const all = await notices.forAccount('cv-victim');
    expect(all.reduce((s, x) => s + x.exposure.attackerAccounts, 0)).toBe(2);
  });
});
