import { afterEach, expect, it } from 'vitest';
import { mirrorAccount, sync } from './helpers/fixtures.js';
import { HeldLimitStore } from './helpers/held-limit-store.js';
import { describeEachDialect, startTestService, type Dialect, type TestService } from './helpers/service.js';

/**
 * An empty sync, or one whose every number is invalid, matches nothing, but it is still answered
 * 200 with a fresh sync token, so its caller must be read again at the match like any other's. On
 * PostgreSQL the match returned early for an empty batch, before the statement that reads the
 * caller: a caller suspended or erased while such a call waited on the limits got 200 and a token
 * where SQLite answers 403 (or 401).
 */
describeEachDialect('an empty or all-invalid sync in flight when its account is suspended or erased', (dialect: Dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });

  async function inFlight(body: Record<string, unknown>, change: (s: TestService) => Promise<{ statusCode: number }>) {
    const store = new HeldLimitStore();
    const s = (svc = await startTestService(dialect, {}, { limitStore: store }));
    await mirrorAccount(s, 'caller');
    const token = await s.tokenFor('caller');
    // Answered while the account is active: the refusal below is the suspension's, not the body's.
    expect((await sync(s, token, body)).statusCode).toBe(200);
    store.holdNext();
    const pending = sync(s, token, body);
    await store.reached;
    expect((await change(s)).statusCode).toBeLessThan(300);
    store.letGo();
    return pending;
  }

  const suspend = (s: TestService) =>
    s.app.inject({ method: 'PUT', url: '/internal/v1/accounts/caller', headers: s.internal, payload: { handle: 'h_caller', status: 'suspended' } });
  const erase = (s: TestService) => s.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/caller', headers: s.internal });

  for (const [name, body] of [
    ['empty', { contacts: [] }],
    ['all-invalid', { contacts: ['not a number', '12'] }],
  ] as const) {
    it(`an ${name} sync from a caller suspended meanwhile is refused (403), without a token`, async () => {
      const res = await inFlight(body, suspend);
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json().error.code).toBe('account_suspended');
      expect(res.body).not.toContain('token');
    });

    it(`an ${name} sync from a caller erased meanwhile is refused (401)`, async () => {
      const res = await inFlight(body, erase);
      expect(res.statusCode, res.body).toBe(401);
    });
  }
});
