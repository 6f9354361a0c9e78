import pg from 'pg';
import { createScratchDatabase, type ScratchDatabase } from '../../src/db/scratch.js';

export const PG_ADMIN_URL = process.env.FINDGUARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let available: Promise<boolean> | undefined;

/** Whether the local PostgreSQL answers; CI (FINDGUARD_REQUIRE_SERVICES=1) treats absence as a failure. */
export function postgresAvailable(): Promise<boolean> {
  available ??= (async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return available;
}

/** A fresh database for one test file; dropped by the returned function. */
export function createTestDatabase(prefix = 'fg_test'): Promise<ScratchDatabase> {
  return createScratchDatabase(PG_ADMIN_URL, `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`);
}
