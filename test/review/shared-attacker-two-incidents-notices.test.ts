import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review of 62d7613: "one incident per campaign" stops a second incident for the same campaign
 * telling each exposed person of the same exposure twice. But exposures are stored per campaign,
 * and one attacker account can be a member of two campaigns (two cluster ids for one scan: a
 * restart, another partition; see test/review/report-records-double-counted). Each campaign may
 * then have its own incident, and the person that attacker found gets two Art. 34 notices for
 * the one (attacker account, exposed account) exposure, as before the fix.
 */
const MIN = 60_000;
let n = 0;
const answer = (attacker: string, revealed: string, minute: number): LookupEvent =>
  makeEvent(++n + 52000, { accountId: attacker, at: T0 + minute * MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: one exposure, two campaigns, two incidents', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['sa-atk', 'sa-atk2', 'sa-v1', 'sa-v2']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('sa-atk', 'sa-v1', 1), answer('sa-atk2', 'sa-v2', 2)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the person one attacker account found is told once', async () => {
    const campaigns = svc.ctx.incidents.campaigns;
    const a = await campaigns.openCampaign({ clusterId: 'sa-cluster-a', accountIds: ['sa-atk'], score: 0.9, evidence: {} });
    const b = await campaigns.openCampaign({ clusterId: 'sa-cluster-b', accountIds: ['sa-atk', 'sa-atk2'], score: 0.9, evidence: {} });
    await notifiedIncident(svc, [a.campaignId], 'Scan A');
    svc.clock.set(T0 + 20 * MIN);
    await notifiedIncident(svc, [b.campaignId], 'Scan B');
    // sa-v1 was found once, by sa-atk: one exposure, one notice.
    expect(await svc.ctx.incidents.notices.forAccount('sa-v1')).toHaveLength(1);
    expect(await svc.ctx.incidents.notices.forAccount('sa-v2')).toHaveLength(1);
  });
});
