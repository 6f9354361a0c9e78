import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR_OVERRIDES } from './helpers/operators.js';
import { startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { describePostgres, startTestService, type TestService } from './helpers/service.js';

/**
 * A person's first OIDC sign-ins arriving together (two tabs, two nodes): each transaction finds no
 * operator for the subject and inserts one; on PostgreSQL the later insert meets the first's row
 * on the UNIQUE subject (or name) and failed the sign-in with a 500. The later one must find the
 * row the first made: one operator, every sign-in answered.
 */
const REDIRECT = 'http://127.0.0.1/admin/v1/oidc/callback';

describePostgres('OIDC: first sign-ins of one person at once', () => {
  let svc: TestService;
  let idp: TestProvider;
  beforeAll(async () => {
    idp = await startTestProvider(REDIRECT, { 'nia@corp.example': ['fg-admins'] });
    svc = await startTestService(
      'postgres',
      { oidcIssuer: idp.issuer, oidcClientId: idp.clientId, oidcClientSecret: idp.clientSecret, oidcRedirectUrl: REDIRECT, oidcGroupRoles: 'fg-admins=admin' },
      OPERATOR_OVERRIDES,
    );
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    await idp?.close();
  });

  it('makes one operator and answers every sign-in', async () => {
    const flows: Array<{ url: string; cookie: string }> = [];
    for (let i = 0; i < 6; i++) {
      const start = await svc.app.inject({ method: 'GET', url: '/admin/v1/oidc/login' });
      const cookie = ([] as string[]).concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_oidc='))!.split(';')[0]!;
      const callback = await idp.signIn(start.headers.location as string, 'nia@corp.example');
      flows.push({ url: `${callback.pathname}${callback.search}`, cookie });
    }
    const results = await Promise.all(flows.map((f) => svc.app.inject({ method: 'GET', url: f.url, headers: { cookie: f.cookie } })));
    expect(results.map((r) => r.statusCode)).toEqual(flows.map(() => 200));
    const rows = await svc.ctx.db.kysely.selectFrom('operators').select(['id', 'status']).where('oidc_subject', 'is not', null).execute();
    expect(rows).toHaveLength(1);
  });
});
