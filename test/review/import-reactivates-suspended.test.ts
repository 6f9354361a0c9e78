import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, lookup, mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (failing test): the app suspends an account (PUT status: suspended, e.g. a scraper it
 * banned). A later re-import line for it that does not name a status (the re-mirror that completes a
 * key rotation, a routine resync of contact points) makes it active again: writeAccounts
 * (src/directory/bulk-write.ts) writes `app_status: l.account.status ?? 'active'` and its upsert
 * overwrites the stored status, where PUT keeps a status it is not given (accounts.ts upsertAccount)
 * and the import keeps an omitted createdAt and audience. The suspended account's calls are answered
 * again and its discoverable numbers found again, though nobody lifted the suspension. README: "The
 * API and the import write through the same directory functions: the same checks ... the import only
 * batches the rows."
 */
const BANNED_PHONE = '+14155550191';

describeEachDialect('review: a re-import without a status keeps the app\'s suspension', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'banned', [{ value: BANNED_PHONE, purposes: ['two_factor', 'discovery'] }]);
    await mirrorAccount(svc, 'stranger', [{ value: '+14155550192', purposes: ['two_factor'] }]);
    const suspended = await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/banned', headers: svc.internal, payload: { handle: 'h_banned', status: 'suspended' } });
    expect(suspended.json()).toMatchObject({ appStatus: 'suspended' });
  });
  afterAll(async () => svc.stop());

  it('is still suspended, refused, and not found after the re-import', async () => {
    const stranger = await svc.tokenFor('stranger');
    const banned = await svc.tokenFor('banned');
    expect((await lookup(svc, stranger, { phone: BANNED_PHONE })).json()).toEqual({ match: null });
    expect((await lookup(svc, banned, { phone: '+14155550192' })).statusCode).toBe(403);
    // A PUT that names no status keeps it (the same body the import line carries).
    const put = await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/banned', headers: svc.internal, payload: { handle: 'h_banned' } });
    expect(put.json()).toMatchObject({ appStatus: 'suspended' });

    const res = await importLines(svc, [
      { accountId: 'banned', handle: 'h_banned', contactPoints: [{ kind: 'phone', value: BANNED_PHONE, purposes: ['two_factor', 'discovery'], verified: true }] },
    ]);
    expect(res.json()).toMatchObject({ accounts: 1, failed: 0 });
    svc.clock.advance(2000);

    const view = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/banned', headers: svc.internal });
    expect(view.json()).toMatchObject({ appStatus: 'suspended', status: 'suspended' });
    expect((await lookup(svc, banned, { phone: '+14155550192' })).statusCode).toBe(403);
    expect((await lookup(svc, stranger, { phone: BANNED_PHONE })).json()).toEqual({ match: null });
  });
});
