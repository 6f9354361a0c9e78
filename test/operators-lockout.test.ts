import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../src/incidents/index.js';
import { OPERATOR_RULE } from '../src/operators/throttle.js';
import { totpCode } from '../src/operators/totp.js';
import { addOperator, OPERATOR_OVERRIDES, signIn } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * Sign-in lockout that an attacker cannot turn against a real operator (issue 16: "rate-limited
 * and locked out without letting an attacker lock real operators out"):
 * - per (name, source): past 5 failures the pair is locked, before any password check, for a
 *   doubling time (1 s up to 15 min); the same operator from another source is not;
 * - per name from every source: past OPERATOR_RULE.free failures the name is locked for unfamiliar
 *   networks: a guess from a new network is refused without the password being checked unless a
 *   valid unused TOTP code comes with it; the operator's usual network (/24, /64 of a recent
 *   sign-in) is never locked, and the operator on a new network passes with their authenticator.
 */
describeEachDialect('sign-in lockout', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
  });
  afterAll(async () => svc?.stop());

  const post = (name: string, password: string, totp: string, from: string) =>
    svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: from, payload: { name, password, totp } });
  const lastFailure = async () => (await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 1 }))[0]!;

  it('locks a (name, source) pair with a doubling wait, before any password check; the operator elsewhere is not locked', async () => {
    const ivy = await addOperator(svc, 'ivy', 'viewer');
    const source = '198.51.100.40';
    for (let i = 0; i < 6; i++) expect((await post('ivy', `guess-${i}`, '000000', source)).statusCode).toBe(401);
    // Locked: even the right password and code from this source wait, with Retry-After.
    svc.clock.advance(30_000);
    const r1 = await post('ivy', 'guess-6', '000000', source);
    svc.clock.advance(500);
    const locked = await post('ivy', ivy.password, totpCode(ivy.totpSecret, svc.clock.now()), source);
    const waits = [r1, locked].filter((r) => r.statusCode === 429).map((r) => Number(r.headers['retry-after']));
    expect(locked.statusCode).toBe(429);
    expect(waits.every((w) => w >= 1)).toBe(true);
    // Backoff: each further failure after a wait doubles it.
    const before = Number(locked.headers['retry-after']);
    svc.clock.advance(before * 1000);
    expect((await post('ivy', 'guess-7', '000000', source)).statusCode).toBe(401);
    const longer = await post('ivy', 'guess-8', '000000', source);
    expect(longer.statusCode).toBe(429);
    expect(Number(longer.headers['retry-after'])).toBeGreaterThan(before);
    // Ivy from her own network signs in.
    expect((await signIn(svc, ivy, '203.0.113.9')).cookie).toMatch(/^__Host-fg_session=/);
  });

  it('past the failures one name takes from everywhere, guesses from new networks are refused unchecked; the usual network and a valid code still sign in', async () => {
    const jo = await addOperator(svc, 'jo', 'admin');
    // Jo's usual network: she signed in from it.
    await signIn(svc, jo, '192.0.2.10');
    // A botnet: one wrong password from each of many addresses, under every per-address bar.
    for (let i = 0; i <= OPERATOR_RULE.free; i++) expect((await post('jo', `guess-${i}`, '000000', `100.70.${i}.1`)).statusCode).toBe(401);

    // Now even the right password from a new network, without a valid code, is refused before it is checked, answered as any failure.
    svc.clock.advance(30_000);
    const stale = String((Number(totpCode(jo.totpSecret, svc.clock.now())) + 500_000) % 1_000_000).padStart(6, '0');
    const guessed = await post('jo', jo.password, stale, '100.71.0.1');
    expect([guessed.statusCode, guessed.json().error.code]).toEqual([401, 'invalid_credentials']);
    expect((await lastFailure()).reason).toBe('locked_unfamiliar_network');
    // A wrong code here is not a wrong code after the right password: jo's second factor count did not move.
    expect(await svc.ctx.operators.throttle.factorRetryAfter(jo.id, svc.clock.now())).toBe(0);

    // Jo from her usual network (another address of the same /24) signs in as always.
    svc.clock.advance(30_000);
    const home = await post('jo', jo.password, totpCode(jo.totpSecret, svc.clock.now()), '192.0.2.77');
    expect(home.statusCode, home.body).toBe(200);
    // Jo travelling (a network she never used): her authenticator's code opens the check.
    svc.clock.advance(30_000);
    const code = totpCode(jo.totpSecret, svc.clock.now());
    const away = await post('jo', jo.password, code, '198.18.5.5');
    expect(away.statusCode, away.body).toBe(200);
    // The code just spent opens nothing: a replay from a new network is refused unchecked.
    const replay = await post('jo', jo.password, code, '198.18.9.9');
    expect(replay.statusCode).toBe(401);
    expect((await lastFailure()).reason).toBe('locked_unfamiliar_network');
    // An attacker with a wrong password but a valid code (a shoulder-surfed one) gets to the password check, and fails there.
    svc.clock.advance(30_000);
    const surfed = await post('jo', 'not-her-password', totpCode(jo.totpSecret, svc.clock.now()), '198.18.10.10');
    expect(surfed.statusCode).toBe(401);
    expect((await lastFailure()).reason).toBe('wrong_password');

    // The lock lapses by itself once the failures stop.
    svc.clock.advance(OPERATOR_RULE.maxMs + 1);
    expect(await svc.ctx.operators.throttle.operatorRetryAfter('jo', svc.clock.now())).toBe(0);
  });

  it("an operator whose name is under no attack is not gated: a new network with a wrong code fails as a wrong code", async () => {
    const kim = await addOperator(svc, 'kim', 'viewer');
    for (let i = 0; i < 3; i++) expect((await post('kim', `guess-${i}`, '000000', `100.72.${i}.1`)).statusCode).toBe(401);
    svc.clock.advance(30_000);
    const wrong = String((Number(totpCode(kim.totpSecret, svc.clock.now())) + 500_000) % 1_000_000).padStart(6, '0');
    expect((await post('kim', kim.password, wrong, '100.73.0.1')).statusCode).toBe(401);
    expect((await lastFailure()).reason).toBe('wrong_totp');
  });
});
