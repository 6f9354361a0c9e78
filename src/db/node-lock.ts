import SQLite from 'better-sqlite3';
import { chmodSync, realpathSync } from 'node:fs';
import type { PoolClient } from 'pg';
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
export const MEMORY_LIMITS_LOCK_KEY = 0x66676d6c;

export class SharedLimitsRequired extends Error {
  constructor(dialect: Db['dialect'] = 'postgres', mode: LockMode = 'exclusive') {
    super(
      mode === 'shared'
        ? `a findguard serve node with its limits in memory (no FINDGUARD_REDIS_URL) is running on this ${dialect === 'postgres' ? 'PostgreSQL database' : 'data folder'}; nodes that share a database must share their limits: set FINDGUARD_REDIS_URL on that node too, or stop it`
        : dialect === 'postgres'
          ? 'another findguard serve node is running on this PostgreSQL database (with its limits in memory, or in Redis); nodes that share a database must share their limits: set FINDGUARD_REDIS_URL on every node'
          : 'another findguard serve process is running on this data folder (with its limits in memory, or in Redis); the embedded default is one process: stop the other one, or run several nodes on PostgreSQL (FINDGUARD_DATABASE_URL) with FINDGUARD_REDIS_URL set on every node',
    );
    this.name = 'SharedLimitsRequired';
  }
}

/**
 * `exclusive`: a node with its limits in memory, the only node of its database. `shared`: a node
 * with its limits in Redis; any number of them hold the lock together, and none can while a
 * memory-limits node holds it, nor that one while they do. Without this a node started without
 * FINDGUARD_REDIS_URL beside Redis nodes (a canary, a unit file missing one variable) found the
 * lock free and kept budgets of its own (test/review/mixed-fleet-memory-node).
 */
export type LockMode = 'exclusive' | 'shared';

/**
 * Where a node's single-node lock stands. `held`; `regaining` while the PostgreSQL session that
 * held it is gone (a server restart, a failover, a dropped connection) and the node is taking it
 * again; `taken` when another node took it meanwhile: two nodes now keep their own limits, so this
 * one tells its readiness probe it must not serve (http/health.ts) until it holds the lock again;
 * `released` once this node let it go (closing, or a test's crash): another node may hold it now,
 * so nothing this one still has in memory may be written over what that one saves.
 */
export type NodeLockStatus = 'held' | 'regaining' | 'taken' | 'released';

export interface NodeLock {
  status(): NodeLockStatus;
  /** Ends the lock; idempotent (a context may be closed twice). */
  release(): Promise<void>;
}

/** How often a node whose lock session dropped tries to take it again. */
const REGAIN_MS = 2000;

const NO_LOCK: NodeLock = { status: () => 'held', release: async () => {} };

/** Takes the lock, or throws SharedLimitsRequired. Nothing to take on an in-memory SQLite database. */
export async function holdMemoryLimitsLock(
  db: Db,
  logger: Logger,
  mode: LockMode = 'exclusive',
  /**
   * Run when the lock is held again after its session was lost, before the status says `held`.
   * Every time, not only after a round saw the lock `taken`: a node cut off from the database (a
   * partition, a failover it reaches late) sees no holder, its rounds only fail to connect, while
   * another node may take the lock, charge callers, save, and stop before the next round gets
   * through (test/review/lock-regained-unseen-holder).
   */
  onRegained?: () => Promise<void>,
): Promise<NodeLock> {
  if (db.dialect === 'sqlite') return holdSqliteLock(db, mode);
  const tryLock = mode === 'shared' ? 'SELECT pg_try_advisory_lock_shared($1) AS ok' : 'SELECT pg_try_advisory_lock($1) AS ok';
  const pool = db.pool;
  if (!pool) return NO_LOCK;
  let client: PoolClient | undefined;
  let status: NodeLockStatus = 'held';
  let released = false;
  let timer: NodeJS.Timeout | undefined;

  /** One attempt on a fresh session: the client when taken, undefined when another session holds it. */
  const take = async (): Promise<PoolClient | undefined> => {
    const c = await pool.connect();
    // Heard from the start: an unheard 'error' on a checked-out client would throw.
    c.on('error', () => undefined);
    let ok = false;
    try {
      const res = await c.query<{ ok: boolean }>(tryLock, [MEMORY_LIMITS_LOCK_KEY]);
      ok = res.rows[0]?.ok === true;
    } finally {
      if (!ok) c.release();
    }
    if (!ok) return undefined;
    c.on('error', (err: Error) => lost(c, err));
    return c;
  };
  const lost = (c: PoolClient, err: Error): void => {
    if (released || c !== client) return;
    client = undefined;
    status = 'regaining';
    logger.error({ err }, 'lost the connection that holds the single-node lock for in-memory limits; taking it again');
    // The dropped client is destroyed, never handed back to the pool.
    c.release(true);
    timer = setInterval(() => void regain(), REGAIN_MS);
    timer.unref();
    void regain();
  };
  let regaining = false;
  const regain = async (): Promise<void> => {
    if (released || client || regaining) return;
    regaining = true;
    try {
      const c = await take();
      if (released) {
        c?.release(true);
        return;
      }
      if (c) {
        // Still `regaining` or `taken` (refusing) until what another node may have done is read
        // back; if that fails, the lock goes back and the next round tries again.
        if (onRegained) {
          try {
            await onRegained();
          } catch (err) {
            c.release(true);
            throw err;
          }
        }
        // Released while the other node's state was read back: the node is closing, the lock goes.
        if (released) {
          c.release(true);
          return;
        }
        client = c;
        status = 'held';
        clearInterval(timer);
        logger.warn('took the single-node lock for in-memory limits again');
      } else if (status !== 'taken') {
        status = 'taken';
        logger.error(
          mode === 'shared'
            ? 'a findguard serve node with its limits in memory took the single-node lock while this one was disconnected: this node reports itself not ready until it holds its share again; set FINDGUARD_REDIS_URL on every node'
            : 'another findguard serve node took the single-node lock while this one was disconnected: this node reports itself not ready until it holds the lock again; set FINDGUARD_REDIS_URL on every node to run several',
        );
      }
    } catch {
      // The database is still away: the next round tries again.
    } finally {
      regaining = false;
    }
  };

  client = await take();
  if (!client) throw new SharedLimitsRequired('postgres', mode);
  return {
    status: () => status,
    // Ending the session ends its lock: the connection is destroyed, not handed back to the pool.
    release: async () => {
      if (released) return;
      released = true;
      status = 'released';
      clearInterval(timer);
      client?.release(true);
      client = undefined;
    },
  };
}

/**
 * The lock file beside a SQLite database (exported for tests that end a process's lock as its death
 * would). Named after the file's real path: a node that reaches the same database through a
 * symlink must meet the same lock.
 */
export function sqliteLockPath(databaseFile: string): string {
  return `${realpathSync(databaseFile)}.serve-lock`;
}

function holdSqliteLock(db: Db, mode: LockMode): NodeLock {
  const file = db.sqlite?.name;
  if (!file || file === ':memory:') return NO_LOCK;
  const path = sqliteLockPath(file);
  const lock = new SQLite(path);
  try {
    chmodSync(path, 0o600);
    lock.pragma('busy_timeout = 0');
    if (mode === 'exclusive') lock.exec('BEGIN EXCLUSIVE');
    else {
      // A read transaction holds SQLite's SHARED lock on the file (rollback journal: the lock file is
      // never in WAL mode) for as long as it is open, even on an empty file: other shared holders
      // are welcome, BEGIN EXCLUSIVE is refused, and a read while an exclusive is held is BUSY.
      lock.exec('BEGIN');
      lock.prepare('SELECT count(*) FROM sqlite_master').get();
    }
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new SharedLimitsRequired('sqlite', mode);
    throw err;
  }
  // The lock is the process's own: it is never lost while the process lives. Closing the
  // connection ends the transaction and its lock.
  return {
    status: () => (lock.open ? 'held' : 'released'),
    release: async () => {
      if (lock.open) lock.close();
    },
  };
}
