import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: "every outside input validated with a 4xx machine-readable code, never a 500". A string
 * with a NUL character is valid JSON and passes every length-only schema, but PostgreSQL refuses to
 * store it in a text column (22021). Each write below must answer a coded 4xx, or store the value;
 * never an opaque 500.
 */
describeEachDialect('review: NUL characters in text fields never cause a 500', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    admin = await signIn(svc, await addOperator(svc, 'nul-admin', 'admin'));
    await mirrorAccount(svc, 'nul-owner', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
  });
  afterAll(async () => svc.stop());

  const notServerError = (status: number, body: string) => {
    expect(status, body).toBeLessThan(500);
    if (status >= 400) expect(typeof JSON.parse(body).error.code).toBe('string');
  };

  it('internal API: an account handle with a NUL', async () => {
    const res = await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/nul-handle', headers: svc.internal, payload: { handle: 'a\u0000b' } });
    notServerError(res.statusCode, res.body);
  });

  it('internal API: a sign-up user agent and device id with a NUL', async () => {
    const res = await svc.app.inject({
      method: 'PUT',
      url: '/internal/v1/accounts/nul-signup',
      headers: svc.internal,
      payload: { handle: 'h_nulsignup', signup: { ip: '203.0.113.9', deviceId: 'd\u0000x', userAgent: 'ua\u0000x' } },
    });
    notServerError(res.statusCode, res.body);
  });

  it('admin API: an operator API token label with a NUL', async () => {
    const me = await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: admin.cookie } });
    const id = me.json().operator.id as string;
    const res = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${id}/tokens`, headers: admin.headers, payload: { label: 'lab\u0000el' } });
    notServerError(res.statusCode, res.body);
  });

  // Added with the fix: the other free-text fields the review's grep found, and the import's per-line report.
  it('admin API: a decision reason with a NUL', async () => {
    const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/decisions', headers: admin.headers, payload: { scope: 'asn', subject: '64500', action: 'suspend', reason: 'scr\u0000aping', durationSeconds: 3600 } });
    notServerError(res.statusCode, res.body);
  });

  it('NDJSON import: a line with a NUL is reported invalid, not internal, and the good line is applied', async () => {
    const res = await importLines(svc, [
      { accountId: 'nul-import-bad', handle: 'a\u0000b' },
      { accountId: 'nul-import-good', handle: 'h_good' },
    ]);
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json() as { accounts: number; failed: number; errors: Array<{ line: number; code: string }> };
    expect(report.accounts).toBe(1);
    expect(report.failed).toBe(1);
    expect(report.errors).toEqual([expect.objectContaining({ line: 1, code: 'invalid_request' })]);
  });
});
