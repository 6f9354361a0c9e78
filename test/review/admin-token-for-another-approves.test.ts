import { Migrator } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { listAudit } from '../../src/incidents/index.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn, type TestOperator } from '../helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: `POST /admin/v1/operators/:id/tokens` lets an admin mint an API token for another
 * operator, and hands the secret to the admin (operators/service.ts createToken; the route is
 * operator-routes.ts). The token then authenticates as that other operator in every respect
 * (operators/tokens.ts authenticate), incident approvals included. So one admin, alone, writes and
 * submits a report, approves it, mints a token for a colleague analyst who never saw it, and
 * approves it again "as" the colleague: the two-person rule (incident-lifecycle.ts approve) is met
 * by one person, and the audit trail names the colleague as the independent approver.
 */
const HOUR = 3_600_000;

describeEachDialect('review: an admin approves twice with a token minted for a colleague', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  let adminId: string;
  let colleague: TestOperator;
  let campaignId: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    const solo = await addOperator(svc, 'solo-admin', 'admin');
    adminId = solo.id;
    admin = await signIn(svc, solo);
    colleague = await addOperator(svc, 'colleague-b', 'analyst');
    await mirrorAccount(svc, 'scraper-t', [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-token', accountIds: ['scraper-t'], score: 0.9, evidence: { why: 'test' } })).campaignId;
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('one person does not get a report approved', async () => {
    const api = (method: 'POST' | 'GET' | 'PATCH', url: string, headers: Record<string, string>, body?: object) =>
      svc.app.inject({ method, url: `/admin/v1${url}`, headers, ...(body !== undefined ? { payload: body } : {}) });
    let res = await api('POST', '/incidents', admin.headers, { title: 'Solo approval', campaignIds: [campaignId] });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().incident.id as string;
    expect((await api('POST', `/incidents/${id}/submit`, admin.headers)).statusCode).toBe(200);
    expect((await api('POST', `/incidents/${id}/approve`, admin.headers)).json().incident.status).toBe('in_review');

    // The admin mints a token for the colleague; the secret comes back to the admin.
    const minted = await api('POST', `/operators/${colleague.id}/tokens`, admin.headers, { label: 'script' });
    let status = 'in_review';
    if (minted.statusCode === 201) {
      const asColleague = { authorization: `Bearer ${minted.json().token as string}` };
      res = await api('POST', `/incidents/${id}/approve`, asColleague);
      status = (await api('GET', `/incidents/${id}`, admin.headers)).json().incident.status as string;
    }
    const approvals = (await listAudit(svc.ctx.db.kysely, { subject: `incident:${id}`, limit: 20 })).filter((a) => a.action === 'incident.approve').map((a) => `${a.actor.name} via ${a.actor.via}`);
    expect(status, `token for the colleague: ${minted.statusCode}; approvals in the audit trail: ${JSON.stringify(approvals)}`).toBe('in_review');
    expect([res.statusCode, res.json().error?.code]).toEqual([403, 'forbidden']);
    // What that token does do is audited as made by the admin, not as the colleague's own.
    expect((await api('PATCH', `/incidents/${id}`, { authorization: `Bearer ${minted.json().token as string}` }, { notes: 'via the made token' })).statusCode).toBe(200);
    const update = (await listAudit(svc.ctx.db.kysely, { subject: `incident:${id}`, limit: 50 })).find((a) => a.action === 'incident.update');
    expect(update?.actor).toMatchObject({ name: 'colleague-b', via: `token made by ${adminId}` });

    // The colleague's own token, made by the colleague, gives the colleague's approval.
    const own = await signIn(svc, colleague);
    const made = await api('POST', `/operators/${colleague.id}/tokens`, own.headers, { label: 'mine' });
    expect(made.statusCode, made.body).toBe(201);
    res = await api('POST', `/incidents/${id}/approve`, { authorization: `Bearer ${made.json().token as string}` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().incident.status).toBe('approved');
  });

  it('tokens made before the maker was recorded are read from the audit trail', async () => {
    const db = svc.ctx.db.kysely;
    const before = await db.selectFrom('operator_tokens').select(['id', 'created_by']).orderBy('id').execute();
    expect(before.map((t) => t.created_by).sort()).toEqual([adminId, colleague.id].sort());
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
    expect((await migrator.migrateTo('20270103000000-notices-told-attackers')).error).toBeUndefined();
    await migrateToLatest(db);
    expect(await db.selectFrom('operator_tokens').select(['id', 'created_by']).orderBy('id').execute()).toEqual(before);
  });
});
