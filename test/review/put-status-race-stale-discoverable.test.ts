import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, lookup, mirrorAccount } from '../helpers/fixtures.js';
import { describePostgres, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (fixed: upsertAccount locks the row first) (internal API, concurrency on PostgreSQL): PUT /internal/v1/accounts/{id} reads the
 * account without locking it (service.ts putAccount -> accounts.ts upsertAccount: findAccount,
 * then UPDATE), and refreshes the contact points' derived `discoverable` flags only when the
 * status it writes differs from the one it read. A write that changed the status between that
 * read and the UPDATE (another PUT, an import line naming `status`) leaves the flags of the
 * other status: here the account ends `active` with a verified discovery phone that nobody can
 * find (discoverable = 0), until some later write to its points happens to refresh them.
 * Every other writer of a point or a status takes the account's row first (lockAccounts).
 */
describePostgres('a status write racing another status write', () => {
  let svc: TestService;
  const PHONE = '+14155550188';
  beforeAll(async () => {
    svc = await startTestService('postgres', { policy: 'none' });
    await mirrorAccount(svc, 'seeker');
  });
  afterAll(async () => svc?.stop());

  async function race(id: string, first: () => Promise<{ statusCode: number }>) {
    const locker = new pg.Client({ connectionString: svc.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [id]);
      const a = first();
      await new Promise((r) => setTimeout(r, 300));
      // The app reactivates the account (a later call, or a retry from another worker).
      const b = svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: svc.internal, payload: { handle: 'h', status: 'active' } });
      await new Promise((r) => setTimeout(r, 300));
      await locker.query('COMMIT');
      const [ra, rb] = await Promise.all([a, b]);
      expect(ra.statusCode).toBeLessThan(300);
      expect(rb.statusCode).toBeLessThan(300);
    } finally {
      await locker.end();
    }
  }

  async function assertFindable(id: string, phone: string) {
    const view = (await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${id}`, headers: svc.internal })).json();
    expect(view.status).toBe('active');
    expect(view.contactPoints[0].discoverable).toBe(true);
    svc.clock.advance(1000);
    const res = await lookup(svc, await svc.tokenFor('seeker'), { phone });
    expect(res.json().match?.accountId, 'an active account with a verified discovery phone is found').toBe(id);
    const rows = await svc.ctx.db.kysely.selectFrom('contact_points').select('discoverable').where('account_id', '=', id).execute();
    expect(rows.map((r) => r.discoverable)).toEqual([1]);
  }

  it('PUT suspended then PUT active at once: the active account stays findable', async () => {
    await mirrorAccount(svc, 'racer1', [{ value: PHONE, purposes: ['discovery'] }]);
    await race('racer1', () => svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/racer1', headers: svc.internal, payload: { handle: 'h', status: 'suspended' } }));
    await assertFindable('racer1', PHONE);
  });

  it('an import line suspending it, then PUT active at once: the active account stays findable', async () => {
    const phone = '+14155550189';
    await mirrorAccount(svc, 'racer2', [{ value: phone, purposes: ['discovery'] }]);
    await race('racer2', async () => {
      const r = await importLines(svc, [{ accountId: 'racer2', handle: 'h', status: 'suspended' }]);
      expect(r.json().failed).toBe(0);
      return r;
    });
    await assertFindable('racer2', phone);
  });
});
