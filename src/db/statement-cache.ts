import type SQLite from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Statements kept ready; a process runs a few hundred distinct queries, most of them rarely. */
const DEFAULT_MAX = 256;

/**
 * Kysely's SQLite driver prepares every query anew (`db.prepare(sql)` per execution), and with
 * better-sqlite3 that compiling, plus the statement object it leaves to the garbage collector, was
 * 9% of the simulator's main thread at 100,000 accounts (prepare and Kysely's executeQuery self
 * time). This hands Kysely the statement it prepared before for the same text. Written here because
 * the driver has no such option and the cache needs better-sqlite3's own rules (below).
 *
 * - A text is kept from its second use, so one-off texts (an IN list of a size seen once) do not
 *   push out the ones that repeat; at most `max` are kept, least recently used out first.
 * - A kept statement still iterating (Kysely's streamQuery) is busy: the same text meanwhile gets
 *   a fresh statement, as before.
 * - SQLite re-prepares a kept statement itself after a schema change (a migration, a new index),
 *   EXPLAIN included: the test shows it.
 * - better-sqlite3 clears a statement's bindings after each run, so a kept statement holds no
 *   value it was given.
 */
export function cachingSqlite(sqlite: SQLite.Database, max = DEFAULT_MAX): SqliteDatabase & { readonly cached: number } {
  const kept = new Map<string, SQLite.Statement>();
  // Texts seen once, in order (a Map as an insertion-ordered set); bounded like `kept`.
  const seenOnce = new Map<string, true>();
  return {
    get cached() {
      return kept.size;
    },
    close: () => {
      kept.clear();
      seenOnce.clear();
      sqlite.close();
    },
    prepare(text: string): SqliteStatement {
      const hit = kept.get(text);
      if (hit && !hit.busy) {
        // Re-inserted: the Map's order is the recency order.
        kept.delete(text);
        kept.set(text, hit);
        return hit;
      }
      const stmt = sqlite.prepare(text);
      if (hit) return stmt;
      if (seenOnce.delete(text)) {
        kept.set(text, stmt);
        if (kept.size > max) kept.delete(kept.keys().next().value!);
      } else {
        seenOnce.set(text, true);
        if (seenOnce.size > max) seenOnce.delete(seenOnce.keys().next().value!);
      }
      return stmt;
    },
  };
}
