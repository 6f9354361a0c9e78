import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR_OVERRIDES, sessionCookieOf } from './helpers/operators.js';
import { startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * An OIDC operator made by an older release, whose row holds the plain `issuer subject`, is still
 * found at their next sign-in (same operator, same role history) and their row moves to the keyed
 * hash (src/operators/oidc-subject.ts), so the plain subject leaves the table.
 */
const REDIRECT = 'http://127.0.0.1/admin/v1/oidc/callback';
const LOGIN = 'lena@corp.example';

let svc: TestService;
let idp: TestProvider;
beforeAll(async () => {
  idp = await startTestProvider(REDIRECT, { [LOGIN]: ['fg-admins'] });
  svc = await startTestService(
    'sqlite',
    { oidcIssuer: idp.issuer, oidcClientId: idp.clientId, oidcClientSecret: idp.clientSecret, oidcRedirectUrl: REDIRECT, oidcGroupRoles: 'fg-admins=admin' },
    OPERATOR_OVERRIDES,
  );
}, 60_000);
afterAll(async () => {
  await svc?.stop();
  await idp?.close();
});

it('finds the operator an older release stored under the plain subject, and stores the hash instead', async () => {
  const now = svc.clock.now();
  const plain = `${idp.issuer} ${LOGIN}`;
  await svc.ctx.db.kysely.insertInto('operators').values({ id: 'op_legacy_1', name: 'lena', role: 'admin', status: 'active', password_hash: null, totp_secret: null, totp_last_step: 0, oidc_subject: plain, created_at: now, updated_at: now }).execute();

  const start = await svc.app.inject({ method: 'GET', url: '/admin/v1/oidc/login' });
  const flowCookie = ([] as string[]).concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_oidc='))!.split(';')[0]!;
  const callback = await idp.signIn(start.headers.location as string, LOGIN);
  const res = await svc.app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: flowCookie } });
  expect(res.statusCode, res.body).toBe(200);
  const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: sessionCookieOf(res) } });
  expect(me.json().operator).toMatchObject({ id: 'op_legacy_1', name: 'lena' });

  const rows = await svc.ctx.db.kysely.selectFrom('operators').select(['id', 'oidc_subject']).execute();
  expect(rows).toEqual([{ id: 'op_legacy_1', oidc_subject: svc.ctx.operators.oidcSubjects.current(plain) }]);
});
