import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (fixed: import.ts prepareLine, code duplicate_contact_point) (import validation): an import line that lists one contact point twice (the same
 * normalised value, here once in E.164 and once in national form) with contradicting purposes
 * and audience is applied without a word: prepareLine (src/directory/import.ts, the `seen` set)
 * keeps the first entry and drops the second, and the report says failed 0. The app asked for
 * the number to be discoverable by everyone and gets a 2FA-only point, or the reverse depending
 * on order. POST answers a second add with 409 and a duplicate purpose with 400; a line that
 * contradicts itself should be refused as a whole (its own code), changing nothing.
 */
describeEachDialect('an import line with one contact point twice, contradicting itself', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
  });
  afterAll(async () => svc?.stop());

  it('is reported as a failed line and writes nothing', async () => {
    const res = await importLines(svc, [
      {
        accountId: 'dup1',
        handle: 'dup',
        contactPoints: [
          { kind: 'phone', value: '+14155552675', purposes: ['two_factor'], verified: true },
          { kind: 'phone', value: '(415) 555-2675', region: 'US', purposes: ['discovery'], verified: true, discoverableBy: 'everyone' },
        ],
      },
    ]);
    expect(res.statusCode).toBe(200);
    const report = res.json();
    // Before a fix: {"failed":0,"contactPoints":1} and the point is two_factor only.
    expect(report.failed).toBe(1);
    expect(report.errors[0].code).toBe('duplicate_contact_point');
    const get = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/dup1', headers: svc.internal });
    expect(get.statusCode).toBe(404);
  });

  it('the same value twice, saying the same both times, is one point', async () => {
    const same = { purposes: ['discovery'], verified: true };
    const res = await importLines(svc, [{ accountId: 'dup2', handle: 'dup', contactPoints: [{ kind: 'phone', value: '+14155552676', ...same }, { kind: 'phone', value: '(415) 555-2676', region: 'US', ...same }] }]);
    expect(res.json()).toMatchObject({ failed: 0, contactPoints: 1 });
  });
});
