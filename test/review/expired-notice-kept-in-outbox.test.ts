import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { notifiedIncident } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review of 930f79a: a notice past its lifetime "loses its content" (exposure_notices.content = null),
 * but the exposure.notice webhook row in webhook_outbox carries the whole notice as its payload and
 * is never emptied (only an erasure deletes it since e05712e). The notice's content thus outlives
 * its lifetime in the outbox, and an operator's redeliver sends the expired notice to the app again.
 */
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
let n = 0;
const answer = (revealed: string, minute: number): LookupEvent =>
  makeEvent(++n + 41000, { accountId: 'xo-atk', at: T0 + minute * MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: an expired notice stays whole in the outbox', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['xo-atk', 'xo-v1']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('xo-v1', 1)]);
    svc.clock.set(T0 + 10 * MIN);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('dropping an expired notice content drops it from its webhook row too', async () => {
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'xo-cluster', accountIds: ['xo-atk'], score: 0.9, evidence: {} });
    await notifiedIncident(svc, [campaignId]);
    const notice = await svc.ctx.db.kysely.selectFrom('exposure_notices').select(['id', 'event_id']).where('account_id', '=', 'xo-v1').executeTakeFirstOrThrow();

    svc.clock.set(T0 + 400 * DAY);
    expect(await svc.ctx.incidents.notices.purgeExpired()).toBe(1);
    expect(await svc.ctx.db.kysely.selectFrom('exposure_notices').select('content').where('id', '=', notice.id).executeTakeFirstOrThrow()).toEqual({ content: 'null' });

    const outbox = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('payload').where('id', '=', notice.event_id!).executeTakeFirst();
    // The expired notice (its id, the account, what was revealed and when) must not remain to be resent.
    expect(outbox?.payload ?? '').not.toContain(notice.id);
  });
});
