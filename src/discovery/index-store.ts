import { sql } from 'kysely';
import type { Db } from '../db/dialect.js';
import { DISCOVERY_BIT } from '../directory/purposes.js';

export interface Match {
  accountId: string;
  handle: string;
}

/**
 * Finds the discoverable account behind each hash. Discoverable = purpose discovery, verified,
 * account active by both the app and findguard: anything else is indistinguishable from absent.
 * Where several accounts claim one number, the earliest-added contact point wins, so answers are
 * stable.
 */
export interface DiscoveryIndex {
  /** Result keyed by the hash's binary string (Buffer#toString('latin1')). */
  match(hashes: readonly Buffer[]): Promise<Map<string, Match>>;
}

const MATCH_SQL = `
  SELECT cp.hash AS hash, a.id AS account_id, a.handle AS handle
  FROM contact_points cp JOIN accounts a ON a.id = cp.account_id
  WHERE cp.hash = ? AND (cp.purposes & ${DISCOVERY_BIT}) <> 0 AND cp.verified = 1
    AND a.app_status = 'active' AND a.fg_status = 'active'
  ORDER BY cp.created_at, cp.id LIMIT 1`;

/**
 * SQLite: one prepared point query per hash on the raw better-sqlite3 handle. Kysely's per-query
 * compilation and async wrapping cost more than the lookup itself on the batch path, and a fixed
 * statement does the same work for every number, hit or miss.
 */
export function sqliteDiscoveryIndex(db: Db): DiscoveryIndex {
  const sqlite = db.sqlite;
  if (!sqlite) throw new Error('sqliteDiscoveryIndex needs a SQLite database');
  const stmt = sqlite.prepare<[Buffer], { hash: Buffer; account_id: string; handle: string }>(MATCH_SQL);
  return {
    async match(hashes) {
      const out = new Map<string, Match>();
      for (const h of hashes) {
        const row = stmt.get(h);
        if (row) out.set(h.toString('latin1'), { accountId: row.account_id, handle: row.handle });
      }
      return out;
    },
  };
}

/** PostgreSQL: one round trip per batch with `= ANY($1::bytea[])`. */
export function postgresDiscoveryIndex(db: Db): DiscoveryIndex {
  return {
    async match(hashes) {
      const out = new Map<string, Match>();
      if (hashes.length === 0) return out;
      const result = await sql<{ hash: Buffer; account_id: string; handle: string }>`
        SELECT DISTINCT ON (cp.hash) cp.hash AS hash, a.id AS account_id, a.handle AS handle
        FROM contact_points cp JOIN accounts a ON a.id = cp.account_id
        WHERE cp.hash = ANY(${hashes as Buffer[]}::bytea[]) AND (cp.purposes & ${sql.lit(DISCOVERY_BIT)}) <> 0
          AND cp.verified = 1 AND a.app_status = 'active' AND a.fg_status = 'active'
        ORDER BY cp.hash, cp.created_at, cp.id`.execute(db.kysely);
      for (const row of result.rows) out.set(row.hash.toString('latin1'), { accountId: row.account_id, handle: row.handle });
      return out;
    },
  };
}

export function discoveryIndexFor(db: Db): DiscoveryIndex {
  return db.dialect === 'sqlite' ? sqliteDiscoveryIndex(db) : postgresDiscoveryIndex(db);
}
