import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../src/abuse/events.js';
import { makeEvent } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';
import { notifiedIncident } from './helpers/incidents.js';

/**
 * An erasure deletes the exposure.notice webhooks of the account's notices whatever their state: a
 * delivered one left in the outbox could be sent again from the webhook log (redeliver resends the
 * stored payload, which is the whole notice). Another account's notice stays.
 */
const MIN = 60_000;
const answer = (n: number, revealed: string): LookupEvent => makeEvent(n, { accountId: 'ed-atk', at: T0 + MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('erasure: a delivered notice webhook goes with the account', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['ed-atk', 'ed-v1', 'ed-v2']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer(9401, 'ed-v1'), answer(9402, 'ed-v2')]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('leaves nothing to redeliver', async () => {
    const campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ed-cluster', accountIds: ['ed-atk'], score: 0.9, evidence: {} })).campaignId;
    const id = await notifiedIncident(svc, [campaignId]);
    const db = svc.ctx.db.kysely;
    const rows = async () =>
      (await db.selectFrom('webhook_outbox').select(['id', 'payload']).where('event_type', '=', 'exposure.notice').execute()).map((r) => ({
        id: r.id,
        accountId: (JSON.parse(r.payload) as { data: { accountId: string } }).data.accountId,
      }));
    const before = await rows();
    expect(before.map((r) => r.accountId).sort()).toEqual(['ed-v1', 'ed-v2']);
    // Both delivered.
    await db.updateTable('webhook_outbox').set({ delivered_at: T0 + 10 * MIN, next_attempt_at: null }).where('event_type', '=', 'exposure.notice').execute();

    expect((await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/ed-v1', headers: svc.internal })).statusCode).toBe(204);
    expect((await rows()).map((r) => r.accountId)).toEqual(['ed-v2']);
  });
});
