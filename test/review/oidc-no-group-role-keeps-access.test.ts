import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../../src/incidents/index.js';
import { OPERATOR_OVERRIDES, sessionCookieOf } from '../helpers/operators.js';
import { startTestProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: an OIDC operator's role is "the highest their groups map to, at every sign-in", and a
 * demotion there (fg-admins to fg-analysts) takes effect at once on every session and API token,
 * which read the role afresh. But when the provider takes the person out of every mapped group,
 * the sign-in is refused (403 forbidden_role) before the row is touched: the row keeps `admin`,
 * and the session still open and the API tokens they made (which never sign in again) go on as
 * admin, indefinitely for a token. Being removed from findguard at the provider has to end them.
 */
const REDIRECT = 'http://127.0.0.1/admin/v1/oidc/callback';

describeEachDialect('review: an OIDC operator whose groups no longer map to a role', (dialect) => {
  let svc: TestService;
  let idp: TestProvider;
  const groups: Record<string, string[]> = { olivia: ['staff', 'fg-admins'] };
  beforeAll(async () => {
    idp = await startTestProvider(REDIRECT, groups);
    svc = await startTestService(
      dialect,
      { oidcIssuer: idp.issuer, oidcClientId: idp.clientId, oidcClientSecret: idp.clientSecret, oidcRedirectUrl: REDIRECT, oidcGroupRoles: 'fg-admins=admin,fg-analysts=analyst' },
      OPERATOR_OVERRIDES,
    );
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    await idp?.close();
  });

  async function oidcSignIn(login: string) {
    const start = await svc.app.inject({ method: 'GET', url: '/admin/v1/oidc/login' });
    const flowCookie = ([] as string[]).concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_oidc='))!.split(';')[0]!;
    const callback = await idp.signIn(start.headers.location as string, login);
    return svc.app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: flowCookie } });
  }

  it('ends their sessions and API tokens; a group mapped again lets them sign in as before', async () => {
    const first = await oidcSignIn('olivia');
    expect(first.statusCode, first.body).toBe(200);
    const cookie = sessionCookieOf(first);
    const me = (await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie } })).json() as { operator: { id: string; role: string }; csrfToken: string };
    expect(me.operator.role).toBe('admin');
    const made = await svc.app.inject({
      method: 'POST',
      url: `/admin/v1/operators/${me.operator.id}/tokens`,
      headers: { cookie, 'x-csrf-token': me.csrfToken },
      payload: { label: 'nightly' },
    });
    expect(made.statusCode, made.body).toBe(201);
    const token = (made.json() as { token: string }).token;

    // Taken out of every findguard group at the provider; they (or someone with their IdP login) sign in.
    groups['olivia'] = ['staff'];
    const refused = await oidcSignIn('olivia');
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('forbidden_role');

    const byToken = await svc.app.inject({ method: 'GET', url: '/admin/v1/operators', headers: { authorization: `Bearer ${token}` } });
    expect(byToken.statusCode, `the API token still works: ${byToken.body.slice(0, 80)}`).toBe(401);
    const bySession = await svc.app.inject({ method: 'GET', url: '/admin/v1/operators', headers: { cookie } });
    expect(bySession.statusCode, 'the session still works').toBe(401);
    const [ended] = await listAudit(svc.ctx.db.kysely, { action: 'operator.access-ended', limit: 1 });
    expect(ended).toMatchObject({ subject: `operator:${me.operator.id}`, reason: 'no_group_role', details: { sessions: 1, tokens: 1 } });

    groups['olivia'] = ['fg-analysts'];
    const back = await oidcSignIn('olivia');
    expect(back.statusCode, back.body).toBe(200);
    const again = (await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: sessionCookieOf(back) } })).json() as { operator: { id: string; role: string } };
    expect(again.operator).toMatchObject({ id: me.operator.id, role: 'analyst' });
  });
});
