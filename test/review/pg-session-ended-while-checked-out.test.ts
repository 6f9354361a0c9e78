import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/dialect.js';
import { createTestDatabase, PG_ADMIN_URL, postgresAvailable } from '../helpers/postgres.js';

/**
 * Review (found while writing lock-regained-unseen-holder.test.ts): the pool of openDb hears errors
 * of idle clients only (pg-pool removes its listener while a client is checked out). A session
 * the server ends while its client is checked out and between two queries (a failover, a server
 * restart, pg_terminate_backend: FATAL 57P01 to every backend) makes pg emit 'error' on that client
 * with nobody listening: an uncaught exception, which ends a `findguard serve` process (there is no
 * process-wide handler). Any transaction between two statements at that moment is such a client.
 */
const pgUp = await postgresAvailable();

(pgUp ? describe : describe.skip)('review: a PostgreSQL session ended while its client is checked out [postgres]', () => {
  let db: Db;
  let drop: () => Promise<void>;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });

  beforeAll(async () => {
    const scratch = await createTestDatabase('fg_review_checked_out');
    drop = () => scratch.drop();
    db = openDb({ dialect: 'postgres', url: scratch.url });
    await admin.connect();
  });
  afterAll(async () => {
    await db?.close();
    await admin.end();
    await drop?.();
  });

  it('is an error its holder meets on its next query, not an uncaught exception', async () => {
    const uncaught: unknown[] = [];
    const hear = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', hear);
    try {
      const client = await db.pool!.connect();
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
      await new Promise((r) => setTimeout(r, 300));
      await expect(client.query('select 1')).rejects.toThrow();
      client.release();
      // Fails today: the FATAL reached nobody but the process.
      expect(uncaught).toEqual([]);
      // The pool dropped the broken client and serves the next query.
      expect((await db.pool!.query('select 1 as one')).rows[0].one).toBe(1);
    } finally {
      process.off('uncaughtException', hear);
    }
  });
});
