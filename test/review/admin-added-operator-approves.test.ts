import { Migrator } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { listAudit } from '../../src/incidents/index.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn, type TestOperator } from '../helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: `POST /admin/v1/operators` hands the admin who adds a local operator that operator's
 * password and TOTP secret, and nothing ever replaces the password. So one admin, alone, added a
 * "colleague", signed in as them and gave the second approval of the two-person rule
 * (incident-lifecycle.ts approve); a token made in that session passed as the colleague's own. A
 * sign-in whose two halves another operator was handed now approves nothing, nor does a token made
 * with it, until the TOTP is reset on the server (or by another admin): then the admin holds only
 * the password.
 */
const HOUR = 3_600_000;

describeEachDialect('review: an admin approves twice as an operator they added', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  let adminId: string;
  let other: SignedIn;
  let puppet: TestOperator;
  const api = (method: 'POST' | 'GET', url: string, headers: Record<string, string>, body?: object) =>
    svc.app.inject({ method, url: `/admin/v1${url}`, headers, ...(body !== undefined ? { payload: body } : {}) });
  const heldBy = async (id: string) => ((await api('GET', '/operators', admin.headers)).json().operators as Array<{ id: string; signInHeldBy: string | null }>).find((o) => o.id === id)?.signInHeldBy;

  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    const solo = await addOperator(svc, 'solo-admin', 'admin');
    adminId = solo.id;
    admin = await signIn(svc, solo);
    const second = await addOperator(svc, 'second-admin', 'admin');
    other = await signIn(svc, second);
  }, 60_000);
  afterAll(async () => svc?.stop());

  let reports = 0;
  const inReview = async (title: string): Promise<string> => {
    const n = ++reports;
    await mirrorAccount(svc, `scraper-${n}`, [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: `cluster-${n}`, accountIds: [`scraper-${n}`], score: 0.9, evidence: { why: 'test' } });
    const res = await api('POST', '/incidents', admin.headers, { title, campaignIds: [campaignId] });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().incident.id as string;
    expect((await api('POST', `/incidents/${id}/submit`, admin.headers)).statusCode).toBe(200);
    expect((await api('POST', `/incidents/${id}/approve`, admin.headers)).json().incident.status).toBe('in_review');
    return id;
  };

  it('the operator an admin added through the API gives no second approval, nor does a token made in their session', async () => {
    const added = await api('POST', '/operators', admin.headers, { name: 'puppet-b', role: 'analyst' });
    expect(added.statusCode, added.body).toBe(201);
    const made = added.json() as { operator: { id: string }; password: string; totpSecret: string };
    puppet = { id: made.operator.id, name: 'puppet-b', role: 'analyst', password: made.password, totpSecret: made.totpSecret };
    expect(await heldBy(puppet.id)).toBe(adminId);
    expect(await heldBy(adminId)).toBeNull();

    const id = await inReview('Puppet approval');
    const asPuppet = await signIn(svc, puppet);
    let res = await api('POST', `/incidents/${id}/approve`, asPuppet.headers);
    expect([res.statusCode, res.json().error?.code]).toEqual([403, 'forbidden']);

    // A token made in the puppet's session is recorded as the admin's, and approves nothing either.
    const token = await api('POST', `/operators/${puppet.id}/tokens`, asPuppet.headers, { label: 'mine?' });
    expect(token.statusCode, token.body).toBe(201);
    expect((await svc.ctx.db.kysely.selectFrom('operator_tokens').select('created_by').where('operator_id', '=', puppet.id).executeTakeFirstOrThrow()).created_by).toBe(adminId);
    res = await api('POST', `/incidents/${id}/approve`, { authorization: `Bearer ${token.json().token as string}` });
    expect([res.statusCode, res.json().error?.code]).toEqual([403, 'forbidden']);

    expect((await api('GET', `/incidents/${id}`, admin.headers)).json().incident.status).toBe('in_review');
    // What the puppet's session does is audited as a sign-in the admin holds.
    const audited = (await listAudit(svc.ctx.db.kysely, { subject: `operator:${puppet.id}`, limit: 20 })).find((a) => a.action === 'token.create');
    expect(audited?.actor).toMatchObject({ name: 'puppet-b', via: `password+totp set by ${adminId}` });
  });

  it('a TOTP reset on the server, or by another admin, takes the sign-in out of the adder\'s hands', async () => {
    const id = await inReview('After a reset');
    // By the admin who added them: still both halves in one pair of hands.
    const again = await api('POST', `/operators/${puppet.id}/reset-totp`, admin.headers);
    expect(again.statusCode, again.body).toBe(200);
    expect(await heldBy(puppet.id)).toBe(adminId);

    // By another admin: the adder keeps the password, the other admin holds the TOTP; neither signs in alone.
    const byOther = await api('POST', `/operators/${puppet.id}/reset-totp`, other.headers);
    expect(byOther.statusCode, byOther.body).toBe(200);
    expect(await heldBy(puppet.id)).toBeNull();
    const viaOther = await signIn(svc, { ...puppet, totpSecret: byOther.json().totpSecret as string });
    const res = await api('POST', `/incidents/${id}/approve`, viaOther.headers);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().incident.status).toBe('approved');

    // On the server's CLI: whoever runs it holds the database already.
    await api('POST', `/operators/${puppet.id}/reset-totp`, admin.headers);
    expect(await heldBy(puppet.id)).toBe(adminId);
    await svc.ctx.operators.resetTotp('cli', puppet.id);
    expect(await heldBy(puppet.id)).toBeNull();
  });

  it('operators added before the holders were recorded are read from the audit trail', async () => {
    const db = svc.ctx.db.kysely;
    const cols = () => db.selectFrom('operators').select(['id', 'password_set_by', 'totp_set_by']).orderBy('id').execute();
    const before = await cols();
    expect(before.find((o) => o.id === puppet.id)).toMatchObject({ password_set_by: adminId, totp_set_by: null });
    expect(before.filter((o) => o.id !== puppet.id).every((o) => o.password_set_by === null && o.totp_set_by === null)).toBe(true);
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
    expect((await migrator.migrateTo('20270107000000-erased-incarnations')).error).toBeUndefined();
    await migrateToLatest(db);
    expect(await cols()).toEqual(before);
  });
});
