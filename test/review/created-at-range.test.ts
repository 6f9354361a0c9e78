import { afterEach, expect, it } from 'vitest';
import { importLines } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type Dialect, type TestService } from '../helpers/service.js';

/**
 * Found in review: `createdAt` was any date-time the schema's format accepts. A date in the future
 * (an app that sent a local time as UTC, or a field mix-up) kept the account in the new-account tier
 * for as long as it stayed ahead, and one before 1970 stored a negative age source. The app is
 * trusted, but what it sends is input: out of range is a 400 with a machine-readable reason, on PUT
 * and on each import line, and nothing is written.
 */
const DAY = 86_400_000;

describeEachDialect('an account\'s createdAt must be a time that has been', (dialect: Dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });

  const put = (s: TestService, id: string, createdAt: string) =>
    s.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: s.internal, payload: { handle: 'someone', createdAt } });

  it('refuses a createdAt in the future or before 1970, on PUT and on import, and writes nothing', async () => {
    const s = (svc = await startTestService(dialect));
    const now = s.clock.now();
    for (const [id, at] of [
      ['future', new Date(now + DAY).toISOString()],
      ['ancient', '1969-12-31T23:59:59Z'],
      ['year-one', '0001-01-01T00:00:00Z'],
    ] as const) {
      const res = await put(s, id, at);
      expect(res.statusCode, `${id} ${at}`).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'invalid_request', details: [{ path: 'createdAt', reason: 'created_at_out_of_range' }] } });
      expect((await s.app.inject({ method: 'GET', url: `/internal/v1/accounts/${id}`, headers: s.internal })).statusCode).toBe(404);
    }
    const imported = await importLines(s, [
      { accountId: 'later', handle: 'later', createdAt: new Date(now + DAY).toISOString() },
      { accountId: 'fine', handle: 'fine', createdAt: new Date(now - 30 * DAY).toISOString() },
    ]);
    expect(imported.json()).toMatchObject({ accounts: 1, failed: 1, errors: [{ line: 1, code: 'invalid_request' }] });
    expect((await s.app.inject({ method: 'GET', url: '/internal/v1/accounts/later', headers: s.internal })).statusCode).toBe(404);
  });

  it('accepts a createdAt a few minutes ahead (the app\'s clock may run ahead of this node\'s) and the epoch itself', async () => {
    const s = (svc = await startTestService(dialect));
    expect((await put(s, 'ahead', new Date(s.clock.now() + 4 * 60_000).toISOString())).statusCode).toBe(201);
    expect((await put(s, 'epoch', '1970-01-01T00:00:00Z')).statusCode).toBe(201);
  });
});
