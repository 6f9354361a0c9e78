import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../src/incidents/index.js';
import { OPERATOR_OVERRIDES, sessionCookieOf } from './helpers/operators.js';
import { startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * OIDC sign-in (src/operators/oidc.ts, openid-client) against a real provider on the loopback
 * (oidc-provider): the round trip with PKCE, state and nonce; groups mapped to roles, the role
 * following the groups; refusals for a forged state, a missing flow cookie, a replayed callback,
 * no mapped group and a disabled operator.
 */
const REDIRECT = 'http://127.0.0.1/admin/v1/oidc/callback';

describeEachDialect('OIDC sign-in', (dialect) => {
  let svc: TestService;
  let idp: TestProvider;
  const groups: Record<string, string[]> = { olivia: ['staff', 'fg-admins'], oscar: ['fg-analysts'], eve: ['staff'] };
  beforeAll(async () => {
    idp = await startTestProvider(REDIRECT, groups);
    svc = await startTestService(
      dialect,
      { oidcIssuer: idp.issuer, oidcClientId: idp.clientId, oidcClientSecret: idp.clientSecret, oidcRedirectUrl: REDIRECT, oidcGroupRoles: 'fg-admins=admin,fg-analysts=analyst' },
      OPERATOR_OVERRIDES,
    );
  });
  afterAll(async () => {
    await svc?.stop();
    await idp?.close();
  });

  /** Starts at /oidc/login, signs in at the provider, and returns the callback to hand back with the flow cookie. */
  async function roundTrip(login: string): Promise<{ callback: URL; flowCookie: string }> {
    const start = await svc.app.inject({ method: 'GET', url: '/admin/v1/oidc/login' });
    expect(start.statusCode).toBe(302);
    const location = start.headers.location as string;
    expect(location.startsWith(`${idp.issuer}/`)).toBe(true);
    const params = new URL(location).searchParams;
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('state')).toBeTruthy();
    expect(params.get('nonce')).toBeTruthy();
    const raw = ([] as string[]).concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_oidc='))!;
    expect(raw).toMatch(/; Secure/i);
    expect(raw).toMatch(/; HttpOnly/i);
    expect(raw).toMatch(/; SameSite=Lax/i);
    return { callback: await idp.signIn(location, login), flowCookie: raw.split(';')[0]! };
  }

  const back = (callback: URL, cookie?: string) =>
    svc.app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, ...(cookie ? { headers: { cookie } } : {}) });

  it('signs in through the provider, creating the operator with the role their groups map to', async () => {
    const { callback, flowCookie } = await roundTrip('olivia');
    const res = await back(callback, flowCookie);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toContain('url=/dashboard/');
    const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: sessionCookieOf(res) } });
    expect(me.statusCode).toBe(200);
    expect(me.json().operator).toMatchObject({ name: 'olivia', role: 'admin', via: 'oidc' });
    const op = (await svc.ctx.operators.byName('olivia'))!;
    expect(op).toMatchObject({ oidc: true, password: false });
    const [signin] = await listAudit(svc.ctx.db.kysely, { action: 'signin', limit: 1 });
    expect(signin).toMatchObject({ actor: { name: 'olivia', role: 'admin', via: 'oidc' }, subject: `operator:${op.id}` });
  });

  it('follows the groups at every sign-in', async () => {
    let r = await roundTrip('oscar');
    expect((await back(r.callback, r.flowCookie)).statusCode).toBe(200);
    expect((await svc.ctx.operators.byName('oscar'))!.role).toBe('analyst');
    groups['oscar'] = ['fg-admins'];
    r = await roundTrip('oscar');
    expect((await back(r.callback, r.flowCookie)).statusCode).toBe(200);
    expect((await svc.ctx.operators.byName('oscar'))!.role).toBe('admin');
    const [changed] = await listAudit(svc.ctx.db.kysely, { action: 'operator.role-from-groups', limit: 1 });
    expect(changed).toMatchObject({ before: { role: 'analyst' }, after: { role: 'admin' } });
  });

  it('refuses a forged state, a callback without its flow cookie, and a replayed callback', async () => {
    const { callback, flowCookie } = await roundTrip('olivia');
    const forged = new URL(callback);
    forged.searchParams.set('state', 'not-the-state');
    const bad = await back(forged, flowCookie);
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error.code).toBe('invalid_credentials');
    expect(bad.cookies.find((c) => c.name === '__Host-fg_session')).toBeUndefined();

    const again = await roundTrip('olivia');
    expect((await back(again.callback)).statusCode).toBe(401);
    // A callback replayed with its cookie: the browser's copy of the flow is deleted on return, and the code is spent (the provider refuses it again).
    const third = await roundTrip('olivia');
    expect((await back(third.callback, third.flowCookie)).statusCode).toBe(200);
    expect((await back(third.callback, third.flowCookie)).statusCode).toBe(401);
    const failed = await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 5 });
    expect(failed.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses someone none of whose groups is mapped (403), and a disabled operator', async () => {
    const eve = await roundTrip('eve');
    const res = await back(eve.callback, eve.flowCookie);
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('forbidden_role');
    expect(await svc.ctx.operators.byName('eve')).toBeNull();

    const olivia = (await svc.ctx.operators.byName('olivia'))!;
    await svc.ctx.operators.disable('cli', olivia.id, 'left');
    const r = await roundTrip('olivia');
    expect((await back(r.callback, r.flowCookie)).statusCode).toBe(401);
  });
});
