import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review, regression: the privacy test searches the logs after ordinary traffic; this one sends a
 * number (and an email) only down error paths (an invalid number, a body that is not JSON, a
 * schema refusal, an unknown route and query string, a refused token, a bad X-Forwarded-For, a
 * refused internal write) and checks at trace level that no log line carries it, in any spelling.
 */
const DIGITS = '4155550199';
const EMAIL = 'secret.person@example.org';

describeEachDialect('review: error paths log no number or address', (dialect) => {
  let svc: TestService;
  let token: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'logger', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
    token = await svc.tokenFor('logger');
  });
  afterAll(async () => svc.stop());

  it('sends the number and the address only where they are refused', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const calls: InjectOptions[] = [
      { method: 'POST', url: '/v1/discovery/lookup', headers: auth, payload: { phone: `+1 ${DIGITS} ext 7` } },
      { method: 'POST', url: '/v1/discovery/lookup', headers: auth, payload: { phone: `+1${DIGITS}`, region: 'usa' } },
      { method: 'POST', url: '/v1/discovery/lookup', headers: auth, payload: { email: `${EMAIL} x` } },
      { method: 'POST', url: '/v1/discovery/lookup', headers: { ...auth, 'content-type': 'application/json' }, payload: `{"phone": "+1${DIGITS}"` },
      { method: 'POST', url: '/v1/discovery/sync', headers: auth, payload: { contacts: [`+1${DIGITS}`], previous: { token: 'A'.repeat(70), contacts: [`+1${DIGITS}`, EMAIL] } } },
      { method: 'POST', url: '/v1/discovery/lookup', headers: { authorization: 'Bearer nope.nope.nope' }, payload: { phone: `+1${DIGITS}` } },
      { method: 'GET', url: `/v1/discovery/lookup?phone=%2B1${DIGITS}&email=${encodeURIComponent(EMAIL)}`, headers: auth },
      { method: 'GET', url: `/v1/nothing/+1${DIGITS}/${EMAIL}`, headers: auth },
      { method: 'POST', url: '/v1/discovery/lookup', headers: { ...auth, 'x-forwarded-for': `+1${DIGITS}`, 'x-device-id': `+1${DIGITS} ${EMAIL}` }, payload: { phone: `+1${DIGITS}` } },
      { method: 'POST', url: '/internal/v1/accounts/nobody/contact-points', headers: svc.internal, payload: { kind: 'email', value: EMAIL, purposes: ['discovery'], verified: true } },
      { method: 'POST', url: '/internal/v1/accounts/logger/contact-points', headers: svc.internal, payload: { kind: 'phone', value: `+1${DIGITS}`, region: 'ZZ', purposes: ['discovery'], verified: true } },
    ];
    for (const c of calls) {
      const res = await svc.app.inject(c);
      expect(res.statusCode, `${c.method} ${c.url}`).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain(DIGITS);
      expect(res.body).not.toContain(EMAIL);
    }
    const logs = svc.logs.text;
    expect(logs.length).toBeGreaterThan(0);
    for (const needle of [DIGITS, DIGITS.slice(3), '415 555', EMAIL, 'secret.person', encodeURIComponent(EMAIL)]) expect(logs, needle).not.toContain(needle);
  });
});
