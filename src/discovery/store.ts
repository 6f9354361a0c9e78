import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import type { Db } from '../db/dialect.js';
import type { ContactHasher, ContactKind } from '../directory/hashing.js';
import { DISCOVERY_BIT } from '../directory/purposes.js';
import { AppError } from '../errors.js';
import { MatchPool } from './match-pool.js';
import { assertStillCaller, createSqliteMatcher, type AccountRef, type CallerNow, type Match } from './sqlite-matcher.js';

export type { AccountRef, Match } from './sqlite-matcher.js';

/**
 * What the request path needs of the caller's account: status for access, age and phone country
 * for trust, sign-up device and address for the holds on a suspended farm's infrastructure.
 */
export interface CallerInfo {
  status: 'active' | 'suspended';
  createdAt: number;
  /** When findguard first mirrored this account (not the app's createdAt): an erased id mirrored again is another account. */
  mirroredAt: number;
  /** The app's phoneRegion, else the region of the account's own verified phone (directory/phone-region.ts). */
  phoneRegion?: string;
  signupDevice?: string;
  signupIp?: string;
  /** The app attested the device the account signed up from (a limits trust fact). */
  signupAttested?: boolean;
  /** One of the account's points is in "my contacts" mode: its syncs keep its book (directory/discoverability.ts). */
  contactsMode?: boolean;
}
export type CallerStatus = CallerInfo | undefined;

/**
 * The discovery hot path's reads. A number matches only through the partial index of
 * discoverable contact points, so every state that must not match costs one identical index miss.
 * Where several accounts claim one number, the earliest-added contact point wins.
 */
export interface DiscoveryStore {
  /** Called after this process committed a directory write: the next read must see it. */
  refresh(): void;
  /** The caller's effective status and trust facts, undefined when the account is not mirrored. */
  caller(accountId: string): Promise<CallerStatus>;
  /**
   * For each normalised value, the account it is discoverable to this caller as, or null, aligned
   * with `values`. A "my contacts" point matches only a caller whose own verified phone is in its
   * owner's latest synced book (directory/discoverability.ts); every other non-match, that one
   * included, is the same work and the same null.
   *
   * The caller is read again with the match, in the same snapshot (SQLite, in the match worker's
   * own for a pooled batch) or statement (PostgreSQL), for every batch, an empty one included: a
   * caller suspended while its call waited on the limits or the match pool is refused (403) rather
   * than answered, whatever its status was when the call began; one erased meanwhile, or erased and
   * mirrored again (another account under the id, which inherits nothing of the call), gets 401.
   */
  match(kind: ContactKind, values: readonly string[], caller: AccountRef): Promise<Array<Match | null>>;
  close(): Promise<void>;
}

const CONTACTS_MODE_SQL = `EXISTS (SELECT 1 FROM contact_points m WHERE m.account_id = accounts.id AND (m.purposes & ${DISCOVERY_BIT}) <> 0 AND m.discoverable_by = 'contacts')`;
const STATUS_SQL = `SELECT app_status, fg_status, created_at, mirrored_at, coalesce(phone_region, derived_phone_region) AS phone_region, signup_device, signup_ip, signup_attested, ${CONTACTS_MODE_SQL} AS contacts_mode FROM accounts WHERE id = ?`;

interface CallerRow {
  app_status: string;
  fg_status: string;
  created_at: number | string;
  mirrored_at: number | string;
  phone_region: string | null;
  signup_device: string | null;
  signup_ip: string | null;
  signup_attested: number | null;
  contacts_mode: number | boolean;
}

function effective(row: CallerRow | undefined): CallerStatus {
  if (!row) return undefined;
  return {
    status: row.app_status === 'active' && row.fg_status === 'active' ? 'active' : 'suspended',
    createdAt: Number(row.created_at),
    mirroredAt: Number(row.mirrored_at),
    ...(row.phone_region ? { phoneRegion: row.phone_region } : {}),
    ...(row.signup_device ? { signupDevice: row.signup_device } : {}),
    ...(row.signup_ip ? { signupIp: row.signup_ip } : {}),
    ...(Number(row.signup_attested) === 1 ? { signupAttested: true } : {}),
    ...(row.contacts_mode === true || row.contacts_mode === 1 ? { contactsMode: true } : {}),
  };
}

/** Batches at least this large go to the worker pool; smaller ones cost less than the hand-off. */
export const POOL_THRESHOLD = 256;

/** How long requests may share one read snapshot; writes made in this process end it at once. */
export const SNAPSHOT_MS = 20;

/**
 * Serves reads from one SQLite read transaction for up to SNAPSHOT_MS. Starting a read transaction
 * takes a lock and re-reads the WAL index (three system calls, slow on virtual machines), which
 * under load cost more than the lookup itself; sharing it across the requests of a few
 * milliseconds removes that cost. Changes committed by this process end the snapshot at once
 * (refresh()), so they are seen by the next request; other processes' within SNAPSHOT_MS.
 */
export class ReadSnapshot {
  private open = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: SQLite.Database,
    private readonly maxAgeMs = SNAPSHOT_MS,
  ) {}

  read<T>(fn: () => T): T {
    if (!this.open) {
      this.db.exec('BEGIN');
      this.open = true;
      this.timer = setTimeout(() => this.refresh(), this.maxAgeMs);
      this.timer.unref();
    }
    try {
      return fn();
    } catch (err) {
      this.refresh();
      throw err;
    }
  }

  refresh(): void {
    if (!this.open) return;
    clearTimeout(this.timer);
    this.open = false;
    this.db.exec('COMMIT');
  }
}

/**
 * SQLite: prepared statements on the raw better-sqlite3 handle (Kysely's driver prepares every
 * query anew, ~30 µs against ~3 µs), and large batches on worker threads with their own
 * read-only connections.
 */
export function sqliteDiscoveryStore(db: Db, hasher: ContactHasher, options: { pool?: MatchPool; path?: string } = {}): DiscoveryStore {
  if (!db.sqlite) throw new Error('sqliteDiscoveryStore needs a SQLite database');
  const pool = options.pool;
  // A file gets its own read-only connection for the snapshot; an in-memory database has one.
  const reader = options.path ? new SQLite(options.path, { readonly: true, fileMustExist: true }) : undefined;
  reader?.pragma('cache_size = -65536');
  const sqlite = reader ?? db.sqlite;
  const snapshot = reader ? new ReadSnapshot(reader) : undefined;
  const read = <T>(fn: () => T): T => (snapshot ? snapshot.read(fn) : fn());
  const statusStmt = sqlite.prepare<[string], CallerRow>(STATUS_SQL);
  const matchInline = createSqliteMatcher(sqlite, hasher, { ownTransaction: !snapshot });
  return {
    refresh: () => snapshot?.refresh(),
    async caller(accountId) {
      return read(() => effective(statusStmt.get(accountId)));
    },
    async match(kind, values, caller) {
      // The caller is read by whichever thread matches, with the directory (sqlite-matcher.ts):
      // read here, before the pool, it would go stale while the batch waits there.
      if (pool && pool.size > 0 && values.length >= POOL_THRESHOLD) {
        try {
          return await pool.match(kind, values, caller);
        } catch (err) {
          if (err instanceof AppError) throw err;
          // A worker died mid-batch (it is being replaced): answer from this thread instead.
        }
      }
      return read(() => matchInline(kind, values, caller));
    },
    close: async () => {
      snapshot?.refresh();
      reader?.close();
      await pool?.close();
    },
  };
}

/** PostgreSQL: one round trip per batch with `= ANY($1::bytea[])`. */
export function postgresDiscoveryStore(db: Db, hasher: ContactHasher): DiscoveryStore {
  return {
    async caller(accountId) {
      const row = await db.kysely
        .selectFrom('accounts')
        .select((eb) => [
          'app_status',
          'fg_status',
          'created_at',
          'mirrored_at',
          eb.fn.coalesce('phone_region', 'derived_phone_region').as('phone_region'),
          'signup_device',
          'signup_ip',
          'signup_attested',
          sql<boolean>`${sql.raw(CONTACTS_MODE_SQL)}`.as('contacts_mode'),
        ])
        .where('id', '=', accountId)
        .executeTakeFirst();
      return effective(row);
    },
    async match(kind, values, caller) {
      const callerId = caller.accountId;
      const out = new Array<Match | null>(values.length).fill(null);
      // No early return for an empty batch: the statement below is also the caller's check.
      const hashes: Buffer[] = [];
      const owner: number[] = [];
      values.forEach((v, i) => {
        for (const h of hasher.all(kind, v)) {
          hashes.push(h.hash);
          owner.push(i);
        }
      });
      // Points discoverable by everyone, and "my contacts" points through contact_reach on the
      // caller's own verified phones (see sqlite-matcher.ts); the earliest claim the caller may see wins.
      // The caller's own row leads (no row: erased), so its status is read in the match's snapshot.
      const result = await sql<CallerNow & { hash: Buffer | null; account_id: string | null; handle: string | null; created_at: string | number | null; point_id: string | null }>`
        SELECT c.ok AS ok, c.mirrored_at AS mirrored_at, x.hash AS hash, x.account_id AS account_id, x.handle AS handle, x.created_at AS created_at, x.point_id AS point_id
        FROM (SELECT app_status = 'active' AND fg_status = 'active' AS ok, mirrored_at FROM accounts WHERE id = ${callerId}) c
        LEFT JOIN LATERAL (
        SELECT DISTINCT ON (m.hash) m.hash AS hash, a.id AS account_id, a.handle AS handle, m.created_at AS created_at, m.point_id AS point_id
        FROM (
          SELECT cp.hash AS hash, cp.account_id AS account_id, cp.created_at AS created_at, cp.id AS point_id
          FROM contact_points cp
          WHERE cp.hash = ANY(${hashes}::bytea[]) AND cp.discoverable = 1
          UNION ALL
          SELECT r.point_hash, r.account_id, r.created_at, r.point_id
          FROM contact_reach r
          WHERE r.point_hash = ANY(${hashes}::bytea[]) AND r.book_hash IN (
            SELECT me.hash FROM contact_points me WHERE me.account_id = ${callerId} AND me.kind = 'phone' AND me.verified = 1)
        ) m JOIN accounts a ON a.id = m.account_id
        WHERE a.app_status = 'active' AND a.fg_status = 'active'
        ORDER BY m.hash, m.created_at, m.point_id COLLATE "C"
        ) x ON c.ok`.execute(db.kysely);
      assertStillCaller(result.rows[0], caller);
      const byHash = new Map<string, Claim>();
      for (const r of result.rows) {
        if (r.hash && r.account_id !== null && r.handle !== null && r.point_id !== null) {
          byHash.set(r.hash.toString('latin1'), { accountId: r.account_id, handle: r.handle, createdAt: Number(r.created_at), pointId: r.point_id });
        }
      }
      // Across the value's hashes (one per key during a rotation), the earliest claim wins, as on
      // SQLite (sqlite-matcher.ts earliest): not the claim found under the newest key.
      const best: Array<Claim | undefined> = new Array(values.length);
      hashes.forEach((h, j) => {
        const c = byHash.get(h.toString('latin1'));
        const b = best[owner[j]!];
        if (c && (!b || c.createdAt < b.createdAt || (c.createdAt === b.createdAt && c.pointId < b.pointId))) best[owner[j]!] = c;
      });
      best.forEach((c, i) => {
        if (c) out[i] = { accountId: c.accountId, handle: c.handle };
      });
      return out;
    },
    refresh: () => undefined,
    close: async () => undefined,
  };
}

/** A match with what orders claims on one number: the point's creation, then its id. */
interface Claim extends Match {
  createdAt: number;
  pointId: string;
}
