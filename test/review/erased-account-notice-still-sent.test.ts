import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';
import { notifiedIncident } from '../helpers/incidents.js';

/**
 * Review: an exposure notice is "erased with the account (ON DELETE CASCADE in the erasure's
 * transaction)" (README, notices). The notice's content is also the payload of its exposure.notice
 * webhook row, and the erasure leaves that row alone: a notice not delivered yet when the app erases
 * the account is still delivered afterwards (findguard sends the app a notice about a person it
 * was told to forget), and its full content stays in webhook_outbox, where an admin can send it
 * again from the webhook log.
 */
const MIN = 60_000;
const answer = (revealed: string): LookupEvent => makeEvent(9301, { accountId: 'er-atk', at: T0 + MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: an erased account keeps no notice in the outbox', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['er-atk', 'er-v1']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('er-v1')]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('erasing the account takes its undelivered notice with it', async () => {
    const campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'er-cluster', accountIds: ['er-atk'], score: 0.9, evidence: {} })).campaignId;
    const id = await notifiedIncident(svc, [campaignId]);
    const notices = async () =>
      (await svc.ctx.db.kysely.selectFrom('webhook_outbox').select(['payload', 'next_attempt_at', 'delivered_at']).where('event_type', '=', 'exposure.notice').execute()).filter(
        (r) => (JSON.parse(r.payload) as { data: { accountId: string } }).data.accountId === 'er-v1',
      );
    expect(await notices()).toHaveLength(1);

    // The app erases the person before the notice went out (no webhook endpoint reached yet).
    const erased = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/er-v1', headers: svc.internal });
    expect(erased.statusCode).toBeLessThan(300);
    expect(await svc.ctx.db.kysely.selectFrom('exposure_notices').select('id').where('account_id', '=', 'er-v1').execute()).toEqual([]);

    // Still queued for delivery, with the notice's content.
    const left = await notices();
    expect(left.filter((r) => r.delivered_at === null && r.next_attempt_at !== null)).toEqual([]);
  });
});
