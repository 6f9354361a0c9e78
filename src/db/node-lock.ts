import SQLite from 'better-sqlite3';
import { chmodSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Db } from './dialect.js';

/**
 * A serving node whose limits live in its own memory (no FINDGUARD_REDIS_URL) is the only node of
 * its deployment: a second node on the same PostgreSQL database would keep buckets of its own, and
 * every account's budget would be multiplied by the number of nodes (a caller refused on one node
 * answered by the next). So such a node holds a session-level advisory lock on the database for its
 * whole life, and a second one refuses to start. Advisory locks are per database, so deployments
 * (and test databases) on one server do not see each other.
 *
 * SQLite is the embedded default, one process; but nothing stops a second `findguard serve` (a
 * deploy script's overlap, a second unit) opening the same data folder, and its buckets would be
 * its own just the same. There the lock is an exclusive transaction on a file of its own beside the
 * database: the operating system's file lock, which SQLite also honours between connections of one
 * process, and which ends with the process however it ends (no stale lock to clean up after a crash).
 */

/** 'fgml': findguard, memory limits. */
const LOCK_KEY = 0x66676d6c;

export class SharedLimitsRequired extends Error {
  constructor(dialect: Db['dialect'] = 'postgres') {
    super(
      dialect === 'postgres'
        ? 'another findguard serve node is running on this PostgreSQL database with its limits in memory; nodes that share a database must share their limits: set FINDGUARD_REDIS_URL on every node'
        : 'another findguard serve process is running on this data folder with its limits in memory; the embedded default is one process: stop the other one, or run several nodes on PostgreSQL (FINDGUARD_DATABASE_URL) with FINDGUARD_REDIS_URL set on every node',
    );
    this.name = 'SharedLimitsRequired';
  }
}

/** Takes the lock, or throws SharedLimitsRequired; returns what releases it. A no-op on an in-memory SQLite database. */
export async function holdMemoryLimitsLock(db: Db, logger: Logger): Promise<() => Promise<void>> {
  if (db.dialect === 'sqlite') return holdSqliteLock(db);
  if (!db.pool) return async () => {};
  const client = await db.pool.connect();
  // The lock lives as long as this session: if the server drops it, say so (another node could start).
  let released = false;
  const onError = (err: Error) => {
    if (!released) logger.error({ err }, 'lost the connection that holds the single-node lock for in-memory limits');
  };
  client.on('error', onError);
  let ok = false;
  try {
    const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_KEY]);
    ok = res.rows[0]?.ok === true;
  } finally {
    if (!ok) {
      released = true;
      client.release();
    }
  }
  if (!ok) throw new SharedLimitsRequired();
  // Ending the session ends its lock: the connection is destroyed, not handed back to the pool (it
  // may be the one a crash-like drop already broke). Idempotent: a context may be closed twice.
  return async () => {
    if (released) return;
    released = true;
    // The listener stays: a destroyed client may still emit, and an unheard 'error' would throw.
    client.release(true);
  };
}

/** The lock file beside a SQLite database (exported for tests that end a process's lock as its death would). */
export function sqliteLockPath(databaseFile: string): string {
  return `${databaseFile}.serve-lock`;
}

function holdSqliteLock(db: Db): () => Promise<void> {
  const file = db.sqlite?.name;
  if (!file || file === ':memory:') return async () => {};
  const path = sqliteLockPath(file);
  const lock = new SQLite(path);
  try {
    chmodSync(path, 0o600);
    lock.pragma('busy_timeout = 0');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new SharedLimitsRequired('sqlite');
    throw err;
  }
  // Closing the connection ends the transaction and its lock. Idempotent: a context may be closed twice.
  return async () => {
    if (lock.open) lock.close();
  };
}
