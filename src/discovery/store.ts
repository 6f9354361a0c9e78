import { sql } from 'kysely';
import type { Db } from '../db/dialect.js';
import type { ContactHasher, ContactKind } from '../directory/hashing.js';
import { MatchPool } from './match-pool.js';
import { createSqliteMatcher, type Match } from './sqlite-matcher.js';

export type { Match } from './sqlite-matcher.js';

export type CallerStatus = 'active' | 'suspended' | undefined;

/**
 * The discovery hot path's reads. A number matches only through the partial index of
 * discoverable contact points, so every state that must not match costs one identical index miss.
 * Where several accounts claim one number, the earliest-added contact point wins.
 */
export interface DiscoveryStore {
  /** The caller's effective status, undefined when the account is not mirrored. */
  callerStatus(accountId: string): Promise<CallerStatus>;
  /** For each normalised value, its discoverable account or null, aligned with `values`. */
  match(kind: ContactKind, values: readonly string[]): Promise<Array<Match | null>>;
  close(): Promise<void>;
}

const STATUS_SQL = `SELECT app_status, fg_status FROM accounts WHERE id = ?`;

function effective(row: { app_status: string; fg_status: string } | undefined): CallerStatus {
  if (!row) return undefined;
  return row.app_status === 'active' && row.fg_status === 'active' ? 'active' : 'suspended';
}

/** Batches at least this large go to the worker pool; smaller ones cost less than the hand-off. */
export const POOL_THRESHOLD = 256;

/**
 * SQLite: prepared statements on the raw better-sqlite3 handle (Kysely's driver prepares every
 * query anew, ~30 µs against ~3 µs), and large batches on worker threads with their own
 * read-only connections.
 */
export function sqliteDiscoveryStore(db: Db, hasher: ContactHasher, pool?: MatchPool): DiscoveryStore {
  const sqlite = db.sqlite;
  if (!sqlite) throw new Error('sqliteDiscoveryStore needs a SQLite database');
  const statusStmt = sqlite.prepare<[string], { app_status: string; fg_status: string }>(STATUS_SQL);
  const matchInline = createSqliteMatcher(sqlite, hasher);
  return {
    async callerStatus(accountId) {
      return effective(statusStmt.get(accountId));
    },
    async match(kind, values) {
      if (pool && pool.size > 0 && values.length >= POOL_THRESHOLD) {
        try {
          return await pool.match(kind, values);
        } catch {
          // A worker died mid-batch (it is being replaced): answer from this thread instead.
        }
      }
      return matchInline(kind, values);
    },
    close: async () => pool?.close(),
  };
}

/** PostgreSQL: one round trip per batch with `= ANY($1::bytea[])`. */
export function postgresDiscoveryStore(db: Db, hasher: ContactHasher): DiscoveryStore {
  return {
    async callerStatus(accountId) {
      const row = await db.kysely.selectFrom('accounts').select(['app_status', 'fg_status']).where('id', '=', accountId).executeTakeFirst();
      return effective(row);
    },
    async match(kind, values) {
      const out = new Array<Match | null>(values.length).fill(null);
      if (values.length === 0) return out;
      const hashes: Buffer[] = [];
      const owner: number[] = [];
      values.forEach((v, i) => {
        for (const h of hasher.all(kind, v)) {
          hashes.push(h.hash);
          owner.push(i);
        }
      });
      const result = await sql<{ hash: Buffer; account_id: string; handle: string }>`
        SELECT DISTINCT ON (cp.hash) cp.hash AS hash, a.id AS account_id, a.handle AS handle
        FROM contact_points cp JOIN accounts a ON a.id = cp.account_id
        WHERE cp.hash = ANY(${hashes}::bytea[]) AND cp.discoverable = 1
          AND a.app_status = 'active' AND a.fg_status = 'active'
        ORDER BY cp.hash, cp.created_at, cp.id`.execute(db.kysely);
      const byHash = new Map(result.rows.map((r) => [r.hash.toString('latin1'), { accountId: r.account_id, handle: r.handle }]));
      hashes.forEach((h, j) => {
        const m = byHash.get(h.toString('latin1'));
        if (m && !out[owner[j]!]) out[owner[j]!] = m;
      });
      return out;
    },
    close: async () => undefined,
  };
}
