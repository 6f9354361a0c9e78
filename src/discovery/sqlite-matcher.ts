import type SQLite from 'better-sqlite3';
import type { AccountRef } from '../directory/discoverability.js';
import type { ContactHasher, ContactKind } from '../directory/hashing.js';
import { AppError } from '../errors.js';

export interface Match {
  accountId: string;
  handle: string;
}

export type { AccountRef };

/** The caller now, read with the match: no row when erased, another mirrored_at when mirrored again. */
export const CALLER_NOW_SQL = `SELECT app_status = 'active' AND fg_status = 'active' AS ok, mirrored_at FROM accounts WHERE id = ?`;

export interface CallerNow {
  ok: boolean | number;
  mirrored_at: number | string;
}

/** The caller as the match reads it: gone, another account under the id, or no longer active. */
export function assertStillCaller(row: CallerNow | undefined, caller: AccountRef): void {
  if (row === undefined || Number(row.mirrored_at) !== caller.mirroredAt) throw new AppError('unauthenticated', 'account is not known to findguard');
  if (row.ok !== true && row.ok !== 1) throw new AppError('account_suspended', 'account is suspended');
}

// The status checks repeat what the discoverable flag already encodes: a defence in depth that
// costs only on a hit, which the answer reveals anyway. The partial index holds the points
// discoverable by everyone only, so every number that must not match is the same single index miss.
const MATCH_SQL = `
  SELECT a.id AS account_id, a.handle AS handle, cp.created_at AS created_at, cp.id AS point_id
  FROM contact_points cp JOIN accounts a ON a.id = cp.account_id
  WHERE cp.hash = ? AND cp.discoverable = 1 AND a.app_status = 'active' AND a.fg_status = 'active'
  ORDER BY cp.created_at, cp.id LIMIT 1`;

// "My contacts" points (directory/discoverability.ts): one primary-key probe on (asked number,
// caller's own phone). A contacts-mode number whose owner does not have the caller in their book
// is a miss like a number nobody registered, so its answer and its cost are the same.
const REACH_SQL = `
  SELECT a.id AS account_id, a.handle AS handle, r.created_at AS created_at, r.point_id AS point_id
  FROM contact_reach r JOIN accounts a ON a.id = r.account_id
  WHERE r.point_hash = ? AND r.book_hash = ? AND a.app_status = 'active' AND a.fg_status = 'active'
  ORDER BY r.created_at, r.point_id LIMIT 1`;

// The caller's own verified phones, as stored: what an owner's book must hold for a contacts-mode match.
const VIEWER_SQL = `SELECT hash FROM contact_points WHERE account_id = ? AND kind = 'phone' AND verified = 1 ORDER BY id`;

/**
 * Stands in for the phone of a caller who has no verified one: no book holds it (a real hash
 * would have to equal 32 zero bytes), and probing it keeps the work per number the same.
 */
const NO_PHONE = Buffer.alloc(32);

interface Row {
  account_id: string;
  handle: string;
  created_at: number | bigint;
  point_id: string;
}

export type SyncMatcher = (kind: ContactKind, values: readonly string[], caller: AccountRef) => Array<Match | null>;

/**
 * Hashes and matches a list of normalised values on one SQLite connection, synchronously: used
 * inline for small batches and inside the match workers for large ones.
 *
 * The caller is read in the same read transaction as the directory, by whichever thread matches:
 * a batch that waited (on the limits, or queued in the match pool) is refused when its caller was
 * suspended or erased meanwhile (AppError, as assertStillCaller), and "my contacts" points are
 * matched against the caller's verified phones as they are now, not as they were when it was queued.
 */
export function createSqliteMatcher(sqlite: SQLite.Database, hasher: ContactHasher, options: { ownTransaction?: boolean } = {}): SyncMatcher {
  const stmt = sqlite.prepare<[Buffer], Row>(MATCH_SQL);
  const reach = sqlite.prepare<[Buffer, Buffer], Row>(REACH_SQL);
  const callerNow = sqlite.prepare<[string], CallerNow>(CALLER_NOW_SQL);
  const viewerStmt = sqlite.prepare<[string], { hash: Buffer }>(VIEWER_SQL);
  // One read transaction per batch: in autocommit mode every statement takes and drops the file
  // lock and re-reads the WAL index (measured ~2.5 µs vs ~6 µs per number). A statement per
  // number beat one `IN (...)` statement per 512 numbers here, and keeps the work per number equal.
  const matchAll = (kind: ContactKind, values: readonly string[], caller: AccountRef): Array<Match | null> => {
    assertStillCaller(callerNow.get(caller.accountId), caller);
    const viewer = viewerStmt.all(caller.accountId).map((r) => r.hash);
    const probes = viewer.length > 0 ? viewer : [NO_PHONE];
    const out = new Array<Match | null>(values.length);
    for (let i = 0; i < values.length; i++) {
      // Every probe runs whatever the earlier ones found: equal work for every state of a number.
      let best: Row | undefined;
      for (const h of hasher.all(kind, values[i]!)) {
        best = earliest(best, stmt.get(h.hash));
        for (const v of probes) best = earliest(best, reach.get(h.hash, v));
      }
      out[i] = best ? { accountId: best.account_id, handle: best.handle } : null;
    }
    return out;
  };
  // The caller may already hold a read snapshot (see store.ts); then a transaction is redundant.
  // Otherwise even a single number needs one: the caller's row, its phones and the directory are
  // read together.
  return options.ownTransaction === false ? matchAll : sqlite.transaction(matchAll);
}

/** Where several accounts claim one number, the earliest-added point the caller may see wins. */
function earliest(a: Row | undefined, b: Row | undefined): Row | undefined {
  if (!a || !b) return a ?? b;
  const ta = Number(a.created_at);
  const tb = Number(b.created_at);
  return tb < ta || (tb === ta && b.point_id < a.point_id) ? b : a;
}
