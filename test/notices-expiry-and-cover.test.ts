import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../src/abuse/events.js';
import { listAudit, type ExposureNotice } from '../src/incidents/index.js';
import { notifiedIncident } from './helpers/incidents.js';
import { makeEvent } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from './helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * The end of a notice's life and a notice per exposure across incidents (src/incidents/notices*.ts):
 * an expired notice's webhook keeps its delivery record but not the notice, is never redelivered
 * (409 conflict, details.reason notice_expired, also before the hourly purge has emptied it), and
 * the admin list says `expired`. An account whose every exposure another incident's notice already
 * told is `covered` in the second incident (counted, sent nothing); one the second incident's own
 * attacker account also found is told of that one alone.
 */
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
let n = 0;
const answer = (attacker: string, revealed: string, minute: number): LookupEvent =>
  makeEvent(++n + 61000, { accountId: attacker, at: T0 + minute * MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describeEachDialect('notices: expiry in the outbox, and one notice per exposure across incidents', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    for (const id of ['nc-atk', 'nc-atk2', 'nc-v1', 'nc-v2', 'nc-v3']) await mirrorAccount(svc, id, []);
    // nc-atk finds v1 and v2; nc-atk2 finds v2 too, and v3.
    await svc.ctx.eventPipeline.process([answer('nc-atk', 'nc-v1', 1), answer('nc-atk', 'nc-v2', 2), answer('nc-atk2', 'nc-v2', 3), answer('nc-atk2', 'nc-v3', 4)]);
    svc.clock.set(T0 + 10 * MIN);
    admin = await signIn(svc, await addOperator(svc, 'nc-admin', 'admin'));
  }, 60_000);
  afterAll(async () => svc?.stop());

  const list = async (incidentId: string, q = '') => {
    const res = await svc.app.inject({ method: 'GET', url: `/admin/v1/incidents/${incidentId}/notices${q}`, headers: admin.headers });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ counts: Record<string, number>; items: Array<{ accountId: string; status: string; eventId: string | null }> }>();
  };
  const redeliver = (eventId: string) => svc.app.inject({ method: 'POST', url: `/admin/v1/webhooks/deliveries/${eventId}/redeliver`, headers: admin.headers });

  let incidentA: string;
  let incidentB: string;

  it('a second incident tells each person only of exposures no notice told, and counts the rest as covered', async () => {
    const campaigns = svc.ctx.incidents.campaigns;
    const a = await campaigns.openCampaign({ clusterId: 'nc-a', accountIds: ['nc-atk'], score: 0.9, evidence: {} });
    const b = await campaigns.openCampaign({ clusterId: 'nc-b', accountIds: ['nc-atk', 'nc-atk2'], score: 0.9, evidence: {} });
    incidentA = await notifiedIncident(svc, [a.campaignId], 'Scan A');
    svc.clock.set(T0 + 20 * MIN);
    incidentB = await notifiedIncident(svc, [b.campaignId], 'Scan B');

    // v1: told by A alone. v2: told by A of nc-atk, by B of nc-atk2 only. v3: told by B.
    const of = async (id: string) => (await svc.ctx.incidents.notices.forAccount(id)).map((x: ExposureNotice) => [x.incidentId, x.exposure.attackerAccounts]);
    expect(await of('nc-v1')).toEqual([[incidentA, 1]]);
    expect((await of('nc-v2')).sort()).toEqual([[incidentA, 1], [incidentB, 1]].sort());
    expect(await of('nc-v3')).toEqual([[incidentB, 1]]);

    // B accounts for all three people it exposed: two told by it, one covered by A's notice.
    expect(await svc.ctx.incidents.lifecycle.get(incidentB)).toMatchObject({ notices: 3 });
    const page = await list(incidentB);
    expect(page.counts).toMatchObject({ covered: 1, total: 3 });
    expect(page.items.find((i) => i.accountId === 'nc-v1')).toMatchObject({ status: 'covered', eventId: null });
    expect((await list(incidentB, '?status=covered')).items.map((i) => i.accountId)).toEqual(['nc-v1']);

    // Notifying B again (a late pass) adds nothing, covered rows included.
    expect(await svc.ctx.incidents.lifecycle.notifyLate(b.campaignId)).toBe(0);
    const late = (await listAudit(svc.ctx.db.kysely, { subject: `incident:${incidentB}`, limit: 50 })).filter((x) => x.action === 'incident.notify_late');
    expect(late).toEqual([]);
  });

  it('an expired notice is listed as expired and its webhook is never redelivered, before and after the purge', async () => {
    const first = (await list(incidentA)).items.find((i) => i.accountId === 'nc-v1')!;
    expect(first.eventId).not.toBeNull();
    svc.clock.set(T0 + 400 * DAY);
    admin = await signIn(svc, await addOperator(svc, 'nc-admin-2', 'admin'));

    // Past its expiry, not yet emptied by the hourly purge: refused already.
    const early = await redeliver(first.eventId!);
    expect([early.statusCode, early.json().error.code, early.json().error.details]).toEqual([409, 'conflict', { reason: 'notice_expired' }]);
    expect((await list(incidentA)).items.every((i) => i.status === 'expired')).toBe(true);

    expect(await svc.ctx.incidents.notices.purgeExpired()).toBeGreaterThanOrEqual(2);
    const row = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select(['payload', 'next_attempt_at']).where('id', '=', first.eventId!).executeTakeFirstOrThrow();
    expect(row.payload).not.toContain('nc-v1');
    expect(row.next_attempt_at).toBeNull();
    const late = await redeliver(first.eventId!);
    expect([late.statusCode, late.json().error.details]).toEqual([409, { reason: 'notice_expired' }]);
    // Still the record that A told them: B's covered row and A's expired one stay.
    expect((await list(incidentA)).counts).toMatchObject({ expired: 2, total: 2 });
    expect((await list(incidentB)).counts).toMatchObject({ covered: 1, expired: 2, total: 3 });
    const audits = await listAudit(svc.ctx.db.kysely, { subject: `webhook:${first.eventId}`, limit: 10 });
    expect(audits).toEqual([]);
  });

  it('a webhook that is no notice is still redelivered', async () => {
    const other = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('id').where('event_type', '=', 'incident.updated').orderBy('id').executeTakeFirstOrThrow();
    await svc.ctx.db.kysely.updateTable('webhook_outbox').set({ next_attempt_at: null }).where('id', '=', other.id).execute();
    expect((await redeliver(other.id)).statusCode).toBe(200);
  });
});
