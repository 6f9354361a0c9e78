import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookup, mirrorAccount, NUMBERS, sync } from '../helpers/fixtures.js';
import { PG_ADMIN_URL, postgresAvailable } from '../helpers/postgres.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (DESIGN §3: "503 unavailable when a store it needs is down: discovery fails closed"):
 * the limits store and the event store answer 503 when they fail, but the directory itself does
 * not: with PostgreSQL unreachable, reading the caller's status throws a driver error that the
 * error handler turns into an opaque 500 internal. Closed, but not with the contract's code, so a
 * client (and the SDK's retry) cannot tell an outage from a bug.
 */
if (!(await postgresAvailable())) throw new Error('this review test needs PostgreSQL at 127.0.0.1:5432');

describe('review: discovery while PostgreSQL is unreachable', () => {
  let svc: TestService;
  let dbName: string;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });

  beforeAll(async () => {
    svc = await startTestService('postgres', { policy: 'none' });
    dbName = new URL(svc.databaseUrl!).pathname.slice(1);
    await admin.connect();
    await mirrorAccount(svc, 'findable', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'outage-caller', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
  });
  afterAll(async () => {
    await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
    await admin.end();
    await svc.stop();
  });

  it('answers 503 unavailable, not 500', async () => {
    const token = await svc.tokenFor('outage-caller');
    await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
    // The caller's status is cached for a second: let it lapse so the call reads the directory.
    svc.clock.advance(2000);
    for (const res of [await lookup(svc, token, { phone: NUMBERS.usA }), await sync(svc, token, { contacts: [NUMBERS.usA] })]) {
      expect(res.body).not.toContain('findable');
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error.code).toBe('unavailable');
      // Added with the fix: as the contract's other outage answers, with a time to retry.
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
  });
});
