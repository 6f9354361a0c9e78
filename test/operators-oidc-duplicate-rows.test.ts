import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../src/incidents/index.js';
import { OPERATOR_OVERRIDES, sessionCookieOf } from './helpers/operators.js';
import { startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * One OIDC identity with two operator rows: the hashed one a current node made, and one a node of
 * the older release made meanwhile under the plain `issuer subject` (src/operators/oidc.ts
 * operatorFor). The hashed row is the operator; the other is disabled (its sessions and tokens
 * ended, audited) and keeps no form of the subject; an operator an admin disabled stays disabled.
 */
const REDIRECT = 'http://127.0.0.1/admin/v1/oidc/callback';

describeEachDialect('OIDC identity with a hashed and a plain row', (dialect) => {
  let svc: TestService;
  let idp: TestProvider;
  beforeAll(async () => {
    idp = await startTestProvider(REDIRECT, { 'mira@corp.example': ['fg-admins'], 'sam@corp.example': ['fg-admins'] });
    svc = await startTestService(
      dialect,
      { oidcIssuer: idp.issuer, oidcClientId: idp.clientId, oidcClientSecret: idp.clientSecret, oidcRedirectUrl: REDIRECT, oidcGroupRoles: 'fg-admins=admin' },
      OPERATOR_OVERRIDES,
    );
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    await idp?.close();
  });

  async function signIn(login: string): Promise<{ statusCode: number; body: string; cookie?: string }> {
    const start = await svc.app.inject({ method: 'GET', url: '/admin/v1/oidc/login' });
    const flowCookie = ([] as string[]).concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_oidc='))!.split(';')[0]!;
    const callback = await idp.signIn(start.headers.location as string, login);
    const res = await svc.app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: flowCookie } });
    return { statusCode: res.statusCode, body: res.body, ...(res.statusCode === 200 ? { cookie: sessionCookieOf(res) } : {}) };
  }

  /** What the older release's node wrote when it did not find the hashed row, with a session and a token of its own. */
  async function olderNodeRow(id: string, name: string, login: string): Promise<{ id: string; token: string }> {
    const now = svc.clock.now();
    await svc.ctx.db.kysely.insertInto('operators').values({ id, name, role: 'admin', status: 'active', password_hash: null, totp_secret: null, totp_last_step: 0, oidc_subject: `${idp.issuer} ${login}`, created_at: now, updated_at: now }).execute();
    await svc.ctx.operators.sessions.create(id, 'oidc', null, now);
    return svc.ctx.operators.tokens.create(id, 'made on the older node', now, id);
  }

  it('signs in as the hashed row; the plain row is disabled with its sessions and tokens, audited, and no subject stays in the clear', async () => {
    const first = await signIn('mira@corp.example');
    expect(first.statusCode, first.body).toBe(200);
    const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: first.cookie! } });
    const keptId = me.json().operator.id as string;
    const token = await olderNodeRow('op_old_node_mira', 'mira-2', 'mira@corp.example');
    expect(await svc.ctx.operators.tokens.authenticate(token.token, svc.clock.now())).not.toBeNull();

    const again = await signIn('mira@corp.example');
    expect(again.statusCode, again.body).toBe(200);
    const meAgain = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: again.cookie! } });
    expect(meAgain.json().operator.id).toBe(keptId);

    const rows = await svc.ctx.db.kysely.selectFrom('operators').select(['id', 'status', 'oidc_subject']).where('id', 'in', [keptId, 'op_old_node_mira']).orderBy('id').execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(keptId)).toMatchObject({ status: 'active', oidc_subject: svc.ctx.operators.oidcSubjects.current(`${idp.issuer} mira@corp.example`) });
    expect(byId.get('op_old_node_mira')).toMatchObject({ status: 'disabled', oidc_subject: null });
    expect(await svc.ctx.operators.sessions.live('op_old_node_mira', svc.clock.now())).toEqual([]);
    expect((await svc.ctx.operators.tokens.get(token.id))?.revokedAt).not.toBeNull();

    const [entry] = await listAudit(svc.ctx.db.kysely, { subject: 'operator:op_old_node_mira', action: 'operator.disable', limit: 5 });
    expect(entry).toMatchObject({ reason: 'duplicate_oidc_operator', actor: { id: keptId, via: 'oidc' }, after: { status: 'disabled' } });
    const stored = JSON.stringify([(await sql`select * from operators`.execute(svc.ctx.db.kysely)).rows, (await sql`select * from audit_log`.execute(svc.ctx.db.kysely)).rows]);
    expect(stored).not.toContain('mira@corp.example');

    // Nothing left to merge: the next sign-in is an ordinary one.
    expect((await signIn('mira@corp.example')).statusCode).toBe(200);
  });

  it('an operator an admin disabled stays disabled, even beside an active plain row the older node made', async () => {
    const first = await signIn('sam@corp.example');
    expect(first.statusCode, first.body).toBe(200);
    const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: first.cookie! } });
    const samId = me.json().operator.id as string;
    await svc.ctx.operators.disable('cli', samId, 'left the team');
    await olderNodeRow('op_old_node_sam', 'sam-2', 'sam@corp.example');

    const res = await signIn('sam@corp.example');
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body).error.code).toBe('invalid_credentials');
    const rows = await svc.ctx.db.kysely.selectFrom('operators').select(['id', 'status', 'oidc_subject']).where('id', 'in', [samId, 'op_old_node_sam']).execute();
    expect(rows.every((r) => r.status === 'disabled')).toBe(true);
    expect(rows.find((r) => r.id === 'op_old_node_sam')?.oidc_subject).toBeNull();
  });
});
