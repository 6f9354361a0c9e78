import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../src/incidents/index.js';
import { totpCode } from '../src/operators/totp.js';
import { addOperator, OPERATOR_OVERRIDES, sessionCookieOf, signIn, type TestOperator } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * Operators' sign-in and sessions through HTTP (src/operators, src/http/admin/auth.ts): password
 * + TOTP, replay, throttling that spares the real operator, revocation, disabling, CSRF, API
 * tokens, cookie attributes, timeouts, and that no secret reaches the logs.
 */
describeEachDialect('operator sign-in', (dialect) => {
  let svc: TestService;
  let admin: TestOperator;
  let alice: TestOperator;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    admin = await addOperator(svc, 'root-admin', 'admin');
    alice = await addOperator(svc, 'alice', 'analyst');
  });
  afterAll(async () => svc?.stop());

  const post = (name: string, password: string, totp: string, from = '203.0.113.5') =>
    svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: from, payload: { name, password, totp } });
  const whoami = (cookie: string) => svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie } });

  it('signs in with password and TOTP: an encrypted __Host- cookie, Secure, HttpOnly, SameSite=Strict, Path=/', async () => {
    svc.clock.advance(30_000);
    const res = await post(alice.name, alice.password, totpCode(alice.totpSecret, svc.clock.now()));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.operator).toEqual({ id: alice.id, name: 'alice', role: 'analyst', via: 'password+totp' });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const raw = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_session='))!;
    expect(raw).toMatch(/; Secure/i);
    expect(raw).toMatch(/; HttpOnly/i);
    expect(raw).toMatch(/; SameSite=Strict/i);
    expect(raw).toMatch(/; Path=\//);
    expect(raw).not.toMatch(/Domain=/i);
    // Encrypted: neither the session id nor its secret is readable in the cookie.
    const value = raw.split(';')[0]!.split('=').slice(1).join('=');
    const sid = (await svc.ctx.db.kysely.selectFrom('operator_sessions').select('id').where('operator_id', '=', alice.id).orderBy('created_at', 'desc').executeTakeFirstOrThrow()).id;
    expect(decodeURIComponent(value)).not.toContain(sid);

    // The TOTP secret is sealed in the database (a hash key, which the database never holds, opens it).
    const stored = await svc.ctx.db.kysely.selectFrom('operators').select(['totp_secret', 'password_hash']).where('id', '=', alice.id).executeTakeFirstOrThrow();
    expect(stored.totp_secret).toMatch(/^k1:/);
    expect(stored.totp_secret).not.toContain(alice.totpSecret);
    expect(stored.password_hash).toMatch(/^scrypt\$/);

    const me = await whoami(sessionCookieOf(res));
    expect(me.statusCode).toBe(200);
    expect(me.headers['cache-control']).toBe('no-store');
    expect(me.json()).toEqual({ operator: body.operator, csrfToken: body.csrfToken });
    const none = await svc.app.inject({ method: 'GET', url: '/admin/v1/session' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('not_signed_in');
  });

  it('refuses a wrong code, a wrong password and an unknown name alike, and audits each', async () => {
    svc.clock.advance(30_000);
    const code = totpCode(alice.totpSecret, svc.clock.now());
    const wrongCode = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (const res of [await post('alice', alice.password, wrongCode, '192.0.2.10'), await post('alice', 'not-the-password', code, '192.0.2.10'), await post('nobody', 'x', code, '192.0.2.10')]) {
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('invalid_credentials');
      expect(res.cookies.find((c) => c.name === '__Host-fg_session')).toBeUndefined();
    }
    const failed = await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 10 });
    expect(failed.slice(0, 3).map((e) => e.reason)).toEqual(['unknown_operator', 'wrong_password', 'wrong_totp']);
    expect(failed[0]!.from).toBe('192.0.2.10');
    expect(failed[0]!.tool).toBe('console');
  });

  it('accepts a TOTP code once: the same code again is refused', async () => {
    svc.clock.advance(30_000);
    const code = totpCode(alice.totpSecret, svc.clock.now());
    expect((await post('alice', alice.password, code)).statusCode).toBe(200);
    const again = await post('alice', alice.password, code);
    expect(again.statusCode).toBe(401);
    // The code of the step before (still inside the window) is older than the one spent: refused too.
    const older = await post('alice', alice.password, totpCode(alice.totpSecret, svc.clock.now() - 30_000));
    expect(older.statusCode).toBe(401);
    const [last] = await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 1 });
    expect(last!.reason).toBe('totp_replayed');
  });

  it("throttles a guesser's address with doubling delays, and the real operator still signs in from theirs", async () => {
    const bob = await addOperator(svc, 'bob', 'viewer');
    const attacker = '198.51.100.66';
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post('bob', `guess-${i}`, '000000', attacker)).statusCode);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    // The sixth failure starts a 1 s wait: the next try inside it is answered 429 before any password is checked.
    expect(statuses.slice(5)).toContain(429);
    const blocked = await post('bob', bob.password, totpCode(bob.totpSecret, svc.clock.now()), attacker);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toMatch(/^\d+$/);
    expect((await listAudit(svc.ctx.db.kysely, { action: 'signin.throttled', limit: 1 })).length).toBe(1);
    // Bob, from his own address, is not locked out.
    const real = await signIn(svc, bob, '203.0.113.77');
    expect((await whoami(real.cookie)).statusCode).toBe(200);
    // After the wait the attacker may try again (and fail): a delay, not a lock.
    svc.clock.advance(60 * 60_000);
    expect((await post('bob', 'guess-late', '000000', attacker)).statusCode).toBe(401);
  });

  it('counts wrong codes after the right password per operator from any address, answering as any failure; wrong passwords from many addresses move nothing', async () => {
    const gina = await addOperator(svc, 'gina', 'viewer');
    const wrongCode = (): string => String((Number(totpCode(gina.totpSecret, svc.clock.now())) + 500_000) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 6; i++) expect((await post('gina', gina.password, wrongCode(), `100.64.${i}.1`)).statusCode).toBe(401);
    // The password holder, whoever it is, now waits for the second factor from every address: the same 401, so the wait tells a guesser nothing.
    svc.clock.advance(1_000);
    const waiting = await post('gina', gina.password, totpCode(gina.totpSecret, svc.clock.now()), '100.64.99.1');
    expect(waiting.statusCode).toBe(401);
    expect(waiting.json().error.code).toBe('invalid_credentials');
    const [entry] = await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 1 });
    expect(entry!.reason).toBe('second_factor_throttled');
    svc.clock.advance(31_000);
    expect((await post('gina', gina.password, totpCode(gina.totpSecret, svc.clock.now()), '100.64.99.1')).statusCode).toBe(200);

    const hank = await addOperator(svc, 'hank', 'viewer');
    for (let i = 0; i < 10; i++) expect((await post('hank', `guess-${i}`, '123456', `100.65.${i}.1`)).statusCode).toBe(401);
    expect((await signIn(svc, hank, '100.65.99.1')).cookie).toMatch(/^__Host-fg_session=/);
  });

  it('a revoked session answers 401 at once; signing out revokes it too', async () => {
    const s = await signIn(svc, alice);
    const sid = (await svc.ctx.db.kysely.selectFrom('operator_sessions').select('id').where('operator_id', '=', alice.id).orderBy('created_at', 'desc').executeTakeFirstOrThrow()).id;
    const a = await signIn(svc, admin);
    const listed = await svc.app.inject({ method: 'GET', url: `/admin/v1/operators/${alice.id}/sessions`, headers: { cookie: a.cookie } });
    expect(listed.json().sessions.map((x: { id: string }) => x.id)).toContain(sid);
    const revoke = await svc.app.inject({ method: 'DELETE', url: `/admin/v1/sessions/${sid}`, headers: a.headers });
    expect(revoke.statusCode).toBe(204);
    const after = await whoami(s.cookie);
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('not_signed_in');

    const s2 = await signIn(svc, alice);
    expect((await svc.app.inject({ method: 'DELETE', url: '/admin/v1/session', headers: s2.headers })).statusCode).toBe(204);
    expect((await whoami(s2.cookie)).statusCode).toBe(401);
  });

  it('disabling an operator ends their sessions and tokens at once', async () => {
    const carol = await addOperator(svc, 'carol', 'analyst');
    const s = await signIn(svc, carol);
    const tok = await svc.ctx.operators.createToken('cli', carol.id, 'script');
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { authorization: `Bearer ${tok.token}` } })).statusCode).toBe(200);
    const a = await signIn(svc, admin);
    const res = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${carol.id}/disable`, headers: a.headers, payload: { reason: 'left the team' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('disabled');
    expect((await whoami(s.cookie)).statusCode).toBe(401);
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { authorization: `Bearer ${tok.token}` } })).statusCode).toBe(401);
    svc.clock.advance(30_000);
    expect((await post('carol', carol.password, totpCode(carol.totpSecret, svc.clock.now()))).statusCode).toBe(401);
    const [entry] = await listAudit(svc.ctx.db.kysely, { subject: `operator:${carol.id}`, action: 'operator.disable', limit: 1 });
    expect(entry).toMatchObject({ actor: { id: admin.id, role: 'admin', via: 'password+totp' }, reason: 'left the team', before: { status: 'active' }, after: { status: 'disabled' }, tool: 'console' });
    // Enabled again, they sign in anew; what ended stays ended.
    const enabled = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${carol.id}/enable`, headers: a.headers, payload: { reason: 'back' } });
    expect(enabled.json().status).toBe('active');
    expect((await whoami(s.cookie)).statusCode).toBe(401);
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { authorization: `Bearer ${tok.token}` } })).statusCode).toBe(401);
    await signIn(svc, carol);
  });

  it('refuses a state change from a cookie session without the CSRF token (403), with a wrong one too', async () => {
    const s = await signIn(svc, alice);
    const url = `/admin/v1/operators/${alice.id}/tokens`;
    const missing = await svc.app.inject({ method: 'POST', url, headers: { cookie: s.cookie }, payload: { label: 'x' } });
    expect(missing.statusCode).toBe(403);
    expect(missing.json().error.code).toBe('csrf_invalid');
    const other = await signIn(svc, admin);
    const wrong = await svc.app.inject({ method: 'POST', url, headers: { cookie: s.cookie, 'x-csrf-token': other.csrf }, payload: { label: 'x' } });
    expect(wrong.statusCode).toBe(403);
    const ok = await svc.app.inject({ method: 'POST', url, headers: s.headers, payload: { label: 'x' } });
    expect(ok.statusCode).toBe(201);
    // Signing out is a state change too.
    expect((await svc.app.inject({ method: 'DELETE', url: '/admin/v1/session', headers: { cookie: s.cookie } })).statusCode).toBe(403);
  });

  it('an API token works without CSRF, is stored hashed, and once revoked answers 401', async () => {
    const s = await signIn(svc, alice);
    const made = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${alice.id}/tokens`, headers: s.headers, payload: { label: 'nightly export' } });
    expect(made.statusCode).toBe(201);
    const { id, token } = made.json() as { id: string; token: string };
    expect(token).toMatch(/^fgop\./);
    const row = await svc.ctx.db.kysely.selectFrom('operator_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.secret_hash).not.toContain(token.split('.')[2]!);
    const bearer = { authorization: `Bearer ${token}` };
    const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: bearer });
    expect(me.json()).toEqual({ operator: { id: alice.id, name: 'alice', role: 'analyst', via: 'token' }, csrfToken: null });
    // A state change with the token alone, no CSRF header: allowed (a browser never sends it by itself).
    const second = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${alice.id}/tokens`, headers: bearer, payload: { label: 'another' } });
    expect(second.statusCode).toBe(201);
    const [entry] = await listAudit(svc.ctx.db.kysely, { action: 'token.create', limit: 1 });
    expect(entry).toMatchObject({ tool: 'api', actor: { via: 'token' } });
    expect((await svc.app.inject({ method: 'DELETE', url: `/admin/v1/tokens/${id}`, headers: bearer })).statusCode).toBe(204);
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: bearer })).statusCode).toBe(401);
    // A wrong token never falls back to the cookie sent beside it.
    const both = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { ...bearer, cookie: s.cookie } });
    expect(both.statusCode).toBe(401);
  });

  it('ends a session after 30 idle minutes, and after 12 hours whatever the activity', async () => {
    const s = await signIn(svc, alice);
    svc.clock.advance(29 * 60_000);
    expect((await whoami(s.cookie)).statusCode).toBe(200);
    svc.clock.advance(29 * 60_000);
    expect((await whoami(s.cookie)).statusCode).toBe(200);
    svc.clock.advance(31 * 60_000);
    expect((await whoami(s.cookie)).statusCode).toBe(401);

    const busy = await signIn(svc, alice);
    for (let i = 0; i < 25; i++) {
      svc.clock.advance(29 * 60_000);
      const res = await whoami(busy.cookie);
      if (i < 24) expect(res.statusCode).toBe(200);
      else expect(res.statusCode).toBe(401);
    }
  });

  it('never writes a password, a TOTP secret or code, a session or token secret to the log', async () => {
    const dave = await addOperator(svc, 'dave', 'viewer');
    svc.clock.advance(30_000);
    const code = totpCode(dave.totpSecret, svc.clock.now());
    await post('dave', 'a-wrong-password-123', code);
    const s = await signIn(svc, dave);
    const tok = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${dave.id}/tokens`, headers: s.headers, payload: { label: 'x' } });
    const token = tok.json().token as string;
    await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { authorization: `Bearer ${token}` } });
    const text = svc.logs.text;
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [dave.password, 'a-wrong-password-123', dave.totpSecret, code, token, token.split('.')[2]!, s.cookie.split('=')[1]!, s.csrf]) {
      expect(text).not.toContain(secret);
    }
  });
});

