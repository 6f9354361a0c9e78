import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { describeEachDialect, JWT_SECRET, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review, regression: odd outside input on the public and internal APIs is a coded 4xx (or an
 * answer), never a 500, and no error echoes what was sent.
 */
const ECHO = '4155552671';

describeEachDialect('review: odd input is a coded 4xx, never a 500', (dialect) => {
  let svc: TestService;
  let token: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'fuzzer', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
    token = await svc.tokenFor('fuzzer');
  });
  afterAll(async () => svc.stop());

  const expectCoded = (res: { statusCode: number; body: string }, what: string) => {
    expect(res.statusCode, `${what}: ${res.body}`).toBeLessThan(500);
    if (res.statusCode >= 400) {
      expect(typeof JSON.parse(res.body).error.code, what).toBe('string');
      expect(res.body, what).not.toContain(ECHO);
    }
  };

  it('lookup and sync bodies', async () => {
    const bodies: Array<[string, unknown]> = [
      ['lookup', []],
      ['lookup', null],
      ['lookup', 'x'],
      ['lookup', { phone: null }],
      ['lookup', { phone: ['+14155552671'] }],
      ['lookup', { phone: '+1415555267１' }],
      ['lookup', { phone: '+1 415 555 2671 ext 5' }],
      ['lookup', { phone: `tel:+1${ECHO}` }],
      ['lookup', { phone: `\u0000+1${ECHO}` }],
      ['lookup', { phone: `+1${ECHO}`, region: null }],
      ['lookup', { phone: `+1${ECHO}`, __proto__: { region: 'US' } }],
      ['lookup', { email: `${ECHO}@\u0000.com` }],
      ['lookup', { email: 'a@b.c'.repeat(60) }],
      ['sync', { contacts: [null] }],
      ['sync', { contacts: [`+1${ECHO}`], previous: null }],
      ['sync', { contacts: [`+1${ECHO}`], previous: { token: 'x'.repeat(128) } }],
      ['sync', { contacts: [`+1${ECHO}`], previous: { token: '\u0000'.repeat(10), contacts: [`+1${ECHO}`] } }],
      ['sync', { contacts: [`+1${ECHO}`], previous: { token: 'AAAA', contacts: [`+1${ECHO}`], emails: [] } }],
      ['sync', { emails: [], previous: { token: 'AAAA', contacts: [`+1${ECHO}`] } }],
      ['sync', { previous: { token: 'AAAA', emails: ['a@b.co'] } }],
      ['sync', { contacts: Array.from({ length: 5001 }, () => `+1${ECHO}`) }],
      ['sync', { region: 'us', contacts: [ECHO] }],
      ['sync', { region: 'XX', contacts: [ECHO] }],
      ['sync', { contacts: [`+1${ECHO}`], emails: ['a@b.co'] }],
    ];
    for (const [route, payload] of bodies) {
      const res = await svc.app.inject({ method: 'POST', url: `/v1/discovery/${route}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      expectCoded(res, `${route} ${JSON.stringify(payload).slice(0, 80)}`);
    }
  });

  it('headers and tokens', async () => {
    const now = Math.floor(svc.clock.now() / 1000);
    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(JWT_SECRET));
    const tokens = [
      await sign({ sub: 'fuzzer' }),
      await sign({ sub: 123, exp: now + 60 }),
      await sign({ sub: ['fuzzer'], exp: now + 60 }),
      await sign({ sub: 'fuzzer', exp: 'never' }),
      await sign({ sub: 'fuzzer', exp: now + 60, nbf: now + 3600 }),
      await sign({ sub: 'nobody-mirrored', exp: now + 60 }),
      'not-a-jwt-at-all',
    ];
    for (const t of tokens) {
      const res = await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers: { authorization: `Bearer ${t}` }, payload: { phone: `+1${ECHO}` } });
      expectCoded(res, `token ${t.slice(0, 30)}`);
      expect(res.statusCode).toBe(401);
    }
    const headerSets: Array<Record<string, string | string[]>> = [
      { 'x-device-id': ['a', 'b'] },
      { 'x-device-id': '' },
      { 'x-findguard-proof': 'c1.zz.99.AAAA.AAAA.0' },
      { 'x-findguard-proof': '...' },
      { 'x-forwarded-for': `+1${ECHO}` },
    ];
    for (const h of headerSets) {
      const res = await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers: { authorization: `Bearer ${token}`, ...h }, payload: { phone: `+1${ECHO}` } });
      expectCoded(res, JSON.stringify(h));
    }
  });

  it('internal API bodies', async () => {
    const cases: Array<[string, string, unknown]> = [
      ['PUT', '/internal/v1/accounts/fz1', { handle: 'h', createdAt: '9999-99-99T00:00:00Z' }],
      ['PUT', '/internal/v1/accounts/fz1', { handle: 'h', createdAt: '+275760-09-13T00:00:00.001Z' }],
      ['PUT', '/internal/v1/accounts/fz1', { handle: 'h', signup: { ip: `+1${ECHO}` } }],
      ['PUT', '/internal/v1/accounts/fz1', { handle: 'h', phoneRegion: 'zz' }],
      ['POST', '/internal/v1/accounts/fuzzer/contact-points', { kind: 'phone', value: `+1${ECHO}x`, purposes: ['discovery'], verified: true }],
      ['POST', '/internal/v1/accounts/fuzzer/contact-points', { kind: 'phone', value: `+1${ECHO}`, purposes: ['discovery', 'discovery'], verified: true }],
      ['POST', '/internal/v1/accounts/fuzzer/contact-points', { kind: 'phone', value: `+1${ECHO}`, purposes: [], verified: true, discoverableBy: 'contacts' }],
      ['POST', '/internal/v1/accounts/nobody-here/contact-points', { kind: 'phone', value: `+1${ECHO}`, purposes: ['discovery'], verified: true }],
      ['PATCH', '/internal/v1/accounts/fuzzer/contact-points/cp_nope', { purposes: ['discovery'] }],
    ];
    for (const [method, url, payload] of cases) {
      const res = await svc.app.inject({ method: method as 'PUT', url, headers: svc.internal, payload: payload as Record<string, unknown> });
      expectCoded(res, `${method} ${url} ${JSON.stringify(payload).slice(0, 80)}`);
    }
  });
});
