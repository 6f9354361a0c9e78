import type { Logger } from 'pino';
import type { Db } from './dialect.js';

/**
 * A serving node whose limits live in its own memory (no FINDGUARD_REDIS_URL) is the only node of
 * its deployment: a second node on the same PostgreSQL database would keep buckets of its own, and
 * every account's budget would be multiplied by the number of nodes (a caller refused on one node
 * answered by the next). So such a node holds a session-level advisory lock on the database for its
 * whole life, and a second one refuses to start. Advisory locks are per database, so deployments
 * (and test databases) on one server do not see each other. SQLite needs none: its data folder is
 * one process's embedded default.
 */

/** 'fgml': findguard, memory limits. */
const LOCK_KEY = 0x66676d6c;

export class SharedLimitsRequired extends Error {
  constructor() {
    super(
      'another findguard serve node is running on this PostgreSQL database with its limits in memory; nodes that share a database must share their limits: set FINDGUARD_REDIS_URL on every node',
    );
    this.name = 'SharedLimitsRequired';
  }
}

/** Takes the lock, or throws SharedLimitsRequired; returns what releases it. A no-op on SQLite. */
export async function holdMemoryLimitsLock(db: Db, logger: Logger): Promise<() => Promise<void>> {
  if (db.dialect !== 'postgres' || !db.pool) return async () => {};
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
