import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR_OVERRIDES } from '../helpers/operators.js';
import { startTestProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review of a1d339a: during a rolling upgrade (two nodes on one database), a new node stores an
 * OIDC operator under the keyed hash, and a node still on the older release, which looks rows up
 * by the plain `issuer subject`, does not find it and creates a second row under the plain
 * subject (name suffixed). operatorFor then finds BOTH candidates with `oidc_subject IN (...)`,
 * takes whichever comes first, and moves it to the current hash, which the other row already
 * holds: the UNIQUE constraint refuses, and the operator can no longer sign in (500), while the
 * plain subject (an email address here) stays in the table.
 */
const REDIRECT = 'http://127.0.0.1/admin/v1/oidc/callback';
const LOGIN = 'mira@corp.example';

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

async function signIn(): Promise<{ statusCode: number; body: string }> {
  const start = await svc.app.inject({ method: 'GET', url: '/admin/v1/oidc/login' });
  const flowCookie = ([] as string[]).concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_oidc='))!.split(';')[0]!;
  const callback = await idp.signIn(start.headers.location as string, LOGIN);
  return svc.app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: flowCookie } });
}

it('an operator with a hashed row and a plain row (older node meanwhile) still signs in, and the plain subject leaves the table', async () => {
  expect((await signIn()).statusCode).toBe(200);
  const plain = `${idp.issuer} ${LOGIN}`;
  const now = svc.clock.now();
  // What the older release's node wrote when it did not find the hashed row.
  await svc.ctx.db.kysely.insertInto('operators').values({ id: 'op_old_node_1', name: 'mira-2', role: 'admin', status: 'active', password_hash: null, totp_secret: null, totp_last_step: 0, oidc_subject: plain, created_at: now, updated_at: now }).execute();

  const res = await signIn();
  expect(res.statusCode, `${res.body} ${svc.logs.text.match(/UNIQUE[^"]*/)?.[0] ?? ''}`).toBe(200);
  const subjects = (await svc.ctx.db.kysely.selectFrom('operators').select('oidc_subject').execute()).map((r) => r.oidc_subject);
  expect(subjects).not.toContain(plain);
});
