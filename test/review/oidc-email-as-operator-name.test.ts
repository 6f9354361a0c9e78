import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR_OVERRIDES, sessionCookieOf } from '../helpers/operators.js';
import { startTestProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: an OIDC operator's name comes from the ID token (oidc.ts nameFrom): preferred_username,
 * else the email's local part, else the subject. The email claim is cut at its '@' so no address
 * is kept, but preferred_username is taken whole, and at most identity providers (Entra ID's UPN,
 * Keycloak or Okta set to log in by email) it IS the email address: the operator's address becomes
 * their name in `operators`, in every audit entry they cause (append-only, never removable) and
 * in what the console lists, against the rule that no raw email is stored.
 */
const REDIRECT = 'http://127.0.0.1/admin/v1/oidc/callback';
const LOGIN = 'olga.admin@corp.example';

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

it('an operator signing in with an email as username is stored without the address', async () => {
  const start = await svc.app.inject({ method: 'GET', url: '/admin/v1/oidc/login' });
  const flowCookie = ([] as string[]).concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_oidc='))!.split(';')[0]!;
  const callback = await idp.signIn(start.headers.location as string, LOGIN);
  const res = await svc.app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: flowCookie } });
  expect(res.statusCode, res.body).toBe(200);
  const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: sessionCookieOf(res) } });
  expect(me.json().operator.role).toBe('admin');

  const operators = JSON.stringify((await sql`select * from operators`.execute(svc.ctx.db.kysely)).rows);
  const audit = JSON.stringify((await sql`select * from audit_log`.execute(svc.ctx.db.kysely)).rows);
  expect(me.json().operator.name).not.toContain('@corp.example');
  expect(operators).not.toContain('@corp.example');
  expect(audit).not.toContain('@corp.example');
});
