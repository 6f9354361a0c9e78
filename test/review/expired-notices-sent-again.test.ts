import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import type { IncidentActor } from '../../src/incidents/index.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: an exposure notice is sent once per (incident, account). Notices past their lifetime
 * (365 days) are deleted by the next notification (ExposureNotices.purgeExpired), and the same call
 * then finds no notice for those accounts and writes and sends them all again: a late exposure of
 * one more account to a notified incident a year on sends every earlier victim a second
 * exposure.notice webhook (and the incident's count and notify_late audit say "1 more").
 */
const MIN = 60_000;
const DAY = 86_400_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
let n = 0;
const answer = (revealed: string, at: number): LookupEvent =>
  makeEvent(++n + 7000, { accountId: 'xn-atk', at, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('review: expired notices are not sent again', (dialect) => {
  let svc: TestService;
  let campaignId: string;
  let incidentId: string;
  const noticeWebhooksFor = async (accountId: string): Promise<number> => {
    const rows = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('payload').where('event_type', '=', 'exposure.notice').execute();
    // An expired notice's webhook keeps no notice (test/review/expired-notice-kept-in-outbox): it names nobody.
    return rows.filter((r) => (JSON.parse(r.payload) as { data?: { accountId: string } }).data?.accountId === accountId).length;
  };

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['xn-atk', 'xn-v1', 'xn-v2']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('xn-v1', T0 + MIN)]);
    svc.clock.set(T0 + 10 * MIN);
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'xn-cluster', accountIds: ['xn-atk'], score: 0.9, evidence: { detector: 'test' } })).campaignId;
    const life = svc.ctx.incidents.lifecycle;
    incidentId = (await life.open({ title: 'Scan', campaignIds: [campaignId] }, by('op-a'))).id;
    await life.submit(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-b'));
    expect(await life.notify(incidentId, by('op-b'))).toMatchObject({ status: 'notified', notices: 1 });
  }, 120_000);
  afterAll(async () => svc?.stop());

  it('a late exposure a year on notifies only the newly exposed account', async () => {
    expect(await noticeWebhooksFor('xn-v1')).toBe(1);
    // A year and a day later (the notice's lifetime is 365 days), the campaign's attacker is found
    // to have been shown one more account: the incident owes that account its notice.
    svc.clock.set(T0 + 366 * DAY);
    await svc.ctx.eventPipeline.process([answer('xn-v2', T0 + 20 * MIN)]);
    await svc.ctx.incidents.lifecycle.notifyLate(campaignId);

    expect(await noticeWebhooksFor('xn-v2')).toBe(1);
    // xn-v1 was told a year ago: telling them again is a second notice for the same exposure. Its
    // expired notice's webhook is emptied since, so xn-v2's is the only one that names anybody,
    // and the two rows are all there are.
    expect(await noticeWebhooksFor('xn-v1')).toBe(0);
    expect(await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('id').where('event_type', '=', 'exposure.notice').execute()).toHaveLength(2);
  });
});
