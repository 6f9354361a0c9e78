import type SQLite from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { errorText, OutageLog } from '../util/outage.js';

/** One saved entry of the memory store: its namespaced key, its value as JSON, when it expires. */
export interface SavedEntry {
  key: string;
  state: string;
  expiresAt: number;
}

/** What the memory store saves through: LimitStatePersistence, or a stand-in in its unit tests. */
export interface LimitStateSaver {
  load(now: number): Promise<SavedEntry[]>;
  /** Resolves once what it was given is stored; throws when it could not be. */
  save(entries: readonly SavedEntry[], removed: readonly string[]): Promise<void>;
  /** Whether saves go to a journal (see JOURNAL) that the store must fold: then the two below. */
  readonly journaled?: boolean;
  /** Whether the keys saved since the last fold (this many) are due to be folded. */
  foldDue?(keys: number): boolean;
  /** The fold, given each such key's present value (`removed`: gone from memory). Returns whether it folded. */
  fold?(entries: readonly SavedEntry[], removed: readonly string[]): boolean;
}

/** Deletes per statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 300;

/**
 * SQLite saves through a journal kept in limit_state itself: each save is one row under a key no
 * namespace of the store can make (the store's keys are `b:`, `r:`, `s:`, `o:` and the key), the
 * save's entries and removed keys as JSON, numbered in order, never expiring. Every FOLD_ROWS rows
 * (or FOLD_KEYS distinct keys) the store folds it: the keys saved since, with their values in
 * memory now, are written into their own rows and the journal's rows deleted, in one transaction;
 * every load folds what an earlier process left. A save had upserted its entries (a lookup changes
 * ~3, and the calls of one turn share a save: ~190 in `npm run bench`) each into a page of its own
 * of the table and both its indexes, every page written again at every commit; a journal row is one
 * append, and a fold writes a key changed by many saves once. Measured (bench/limits-store.ts, with
 * the index on expires_at gone too): 40% less CPU per charged call, whether the same callers come
 * again and again or are spread over 100,000 accounts. The values folded are the store's, not
 * copies kept since their saves: entries held that long outlived the young generation, and the
 * garbage collector's share of `npm run bench` rose by a fifth.
 * A value in memory may be newer than its last save (a call whose save is still to come): the fold
 * stores it early, a charge on the safe side, as a failed save's changes stay charged. FOLD_KEYS
 * bounds the fold, which runs on the event loop: ~2,000 upserts, ~25 ms at worst.
 */
const JOURNAL = '~j:';
/** Zero-padded, so the keys' order is the rows' order (and a range deletes the folded ones). */
const journalKey = (seq: number) => JOURNAL + String(seq).padStart(16, '0');
const JOURNAL_EXPIRES = Number.MAX_SAFE_INTEGER;
const FOLD_ROWS = 64;
const FOLD_KEYS = 2048;

/**
 * A journal row: `[[[key, value, expiresAt], ...], [removed key, ...]]`, each value as its own JSON
 * (the store's states are JSON.stringify's), not a string of it: the row is a third smaller, and
 * its size is most of a save's cost (the pages the commit writes).
 */
function encodeJournalRow(entries: readonly SavedEntry[], removed: readonly string[]): string {
  let text = '[[';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    text += `${i > 0 ? ',' : ''}[${JSON.stringify(e.key)},${e.state},${e.expiresAt}]`;
  }
  return `${text}],${JSON.stringify(removed)}]`;
}

type JournalRow = [entries: Array<[key: string, value: unknown, expiresAt: number]>, removed: string[]];

/** The saved entries with the journal rows applied in order: what limit_state says, as one map (undefined: removed). */
function replay(rows: ReadonlyArray<{ key: string; state: string; expires_at: number | string }>): { state: Map<string, SavedEntry>; changed: Map<string, SavedEntry | undefined>; journal: string[] } {
  const state = new Map<string, SavedEntry>();
  const journal: Array<{ key: string; state: string }> = [];
  for (const r of rows) {
    if (r.key.startsWith(JOURNAL)) journal.push(r);
    else state.set(r.key, { key: r.key, state: r.state, expiresAt: Number(r.expires_at) });
  }
  journal.sort((a, b) => (a.key < b.key ? -1 : 1));
  const changed = new Map<string, SavedEntry | undefined>();
  for (const j of journal) {
    const [entries, removed] = JSON.parse(j.state) as JournalRow;
    for (const [key, value, expiresAt] of entries) {
      const e = { key, state: JSON.stringify(value), expiresAt };
      state.set(key, e);
      changed.set(key, e);
    }
    for (const key of removed) {
      state.delete(key);
      changed.set(key, undefined);
    }
  }
  return { state, changed, journal: journal.map((j) => j.key) };
}

/**
 * Where the embedded limits store keeps what it must not forget across a restart or a crash
 * (table limit_state). The store calls it with what changed before a call that changed it resolves
 * (one write shared by the calls that arrive meanwhile), after a failed write, and on close.
 */
export class LimitStatePersistence implements LimitStateSaver {
  private readonly outage: OutageLog;
  private readonly foldOutage: OutageLog;
  private readonly fast: SqliteStatements | undefined;
  /** The next journal row's number; the rows before it not folded yet: `unfolded` of them. */
  private seq = 0;
  private unfolded = 0;

  private readonly foldRows: number;
  private readonly foldKeys: number;

  /** Saves go through the journal (SQLite, with the raw handle): the store tracks what to fold. */
  readonly journaled: boolean;

  /** `sqlite`: the raw handle where the dialect is SQLite (then saves go through the journal). `fold`: when to fold it (tests). */
  constructor(
    private readonly db: Kysely<Database>,
    logger: Logger,
    private readonly sqlite?: SQLite.Database,
    fold: { rows?: number; keys?: number } = {},
  ) {
    this.fast = sqlite ? sqliteStatements(sqlite) : undefined;
    this.journaled = this.fast !== undefined;
    this.foldRows = fold.rows ?? FOLD_ROWS;
    this.foldKeys = fold.keys ?? FOLD_KEYS;
    this.outage = new OutageLog({
      down: (err) => logger.error({ err: errorText(err) }, 'could not save the limits state; a restart now would forget the changes since'),
      up: () => logger.info('saving the limits state again'),
    });
    this.foldOutage = new OutageLog({
      down: (err) => logger.error({ err: errorText(err) }, 'could not fold the limits journal into the saved state (what is saved is kept; the journal grows until this works)'),
      up: () => logger.info('folding the limits journal again'),
    });
  }

  /**
   * Expired entries are dropped here, once per start, rather than on every save; journal rows left
   * by an earlier process (or by the node that held the lock meanwhile) are folded, so every
   * process starts from entries alone, whichever way it saves.
   */
  async load(now: number): Promise<SavedEntry[]> {
    await this.db.deleteFrom('limit_state').where('expires_at', '<=', now).execute();
    const rows = await this.db.selectFrom('limit_state').select(['key', 'state', 'expires_at']).execute();
    const { state, changed, journal } = replay(rows);
    if (journal.length > 0) {
      const entries: SavedEntry[] = [];
      const removed: string[] = [...journal];
      for (const [key, e] of changed) if (e) entries.push(e);
      else removed.push(key);
      await this.write(entries, removed);
    }
    this.seq = 0;
    this.unfolded = 0;
    return [...state.values()].filter((e) => e.expiresAt > now);
  }

  /** Throws when the state could not be saved (the store keeps it for the next save). */
  async save(entries: readonly SavedEntry[], removed: readonly string[]): Promise<void> {
    if (entries.length === 0 && removed.length === 0) return;
    try {
      if (this.fast) await this.append(this.fast, entries, removed);
      else await this.write(entries, removed);
    } catch (err) {
      this.outage.failed(err);
      throw err;
    }
    this.outage.ok();
  }

  /** SQLite: one journal row (see JOURNAL). */
  private async append(fast: SqliteStatements, entries: readonly SavedEntry[], removed: readonly string[]): Promise<void> {
    const row = { key: journalKey(this.seq), state: encodeJournalRow(entries, removed), expiresAt: JOURNAL_EXPIRES };
    // Not while Kysely holds a transaction open on the connection across awaits (a directory
    // write): the row would share its fate, so it waits for it through Kysely instead.
    // A plain insert: a row of that number already there is another process's (two writers, which
    // the single-node lock is there to prevent), not to be overwritten; the save fails closed.
    if (!this.sqlite?.inTransaction) fast.append.run(row.key, row.state, row.expiresAt);
    else await this.db.insertInto('limit_state').values({ key: row.key, state: row.state, expires_at: row.expiresAt }).execute();
    this.seq++;
    this.unfolded++;
  }

  foldDue(keys: number): boolean {
    return this.fast !== undefined && this.unfolded > 0 && (this.unfolded >= this.foldRows || keys >= this.foldKeys);
  }

  /**
   * Writes the keys saved since the last fold (their present values) into their own rows and
   * deletes the journal's rows, at once; not while Kysely holds the connection (the next save's
   * fold does it). A failure leaves both for the next try.
   */
  fold(entries: readonly SavedEntry[], removed: readonly string[]): boolean {
    if (!this.fast || this.unfolded === 0 || this.sqlite?.inTransaction) return false;
    try {
      this.fast.fold(entries, removed, journalKey(this.seq - 1));
    } catch (err) {
      this.foldOutage.failed(err);
      return false;
    }
    this.foldOutage.ok();
    this.unfolded = 0;
    return true;
  }

  /**
   * The changed entries go as one JSON array, taken apart by the database (json_each on SQLite,
   * json_to_recordset on PostgreSQL), as lookup events are (abuse/pipeline.ts): Kysely compiling an
   * upsert of 300 rows (900 parameters) every second cost the embedded node ~1-2 µs of every call.
   */
  private async write(entries: readonly SavedEntry[], removed: readonly string[]): Promise<void> {
    const postgres = isPostgres(this.db);
    await this.db.transaction().execute(async (trx) => {
      if (entries.length > 0) {
        const json = JSON.stringify(entries);
        await (postgres
          ? sql`INSERT INTO limit_state (key, state, expires_at)
              SELECT x.key, x.state, x."expiresAt" FROM json_to_recordset(${json}::json) AS x(key text, state text, "expiresAt" bigint)
              ON CONFLICT (key) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`
          : // `WHERE true`: SQLite's required disambiguation between INSERT ... SELECT and its ON CONFLICT.
            sql`INSERT INTO limit_state (key, state, expires_at)
              SELECT value ->> '$.key', value ->> '$.state', value ->> '$.expiresAt' FROM json_each(${json}) WHERE true
              ON CONFLICT (key) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`
        ).execute(trx);
      }
      for (let i = 0; i < removed.length; i += CHUNK) await trx.deleteFrom('limit_state').where('key', 'in', removed.slice(i, i + CHUNK)).execute();
    });
  }
}

interface SqliteStatements {
  append: SQLite.Statement<[string, string, number]>;
  /** Writes `entries`, deletes `removed` and the journal's rows up to `last`, in one transaction. */
  fold: (entries: readonly SavedEntry[], removed: readonly string[], last: string) => void;
}

/**
 * SQLite, the embedded default: prepared statements on the raw handle, run synchronously. A fold
 * upserts each key (measured 2.6-2.8 µs an entry against 3.6-4.5 µs through json_each, as SQLite's
 * JSON functions re-read each element for every field).
 */
function sqliteStatements(sqlite: SQLite.Database): SqliteStatements {
  const upsert = sqlite.prepare<[string, string, number]>(
    'INSERT INTO limit_state (key, state, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at',
  );
  const append = sqlite.prepare<[string, string, number]>('INSERT INTO limit_state (key, state, expires_at) VALUES (?, ?, ?)');
  const remove = sqlite.prepare<[string]>('DELETE FROM limit_state WHERE key = ?');
  const removeJournal = sqlite.prepare<[string, string]>('DELETE FROM limit_state WHERE key >= ? AND key <= ?');
  const fold = sqlite.transaction((entries: readonly SavedEntry[], removed: readonly string[], last: string) => {
    for (const e of entries) upsert.run(e.key, e.state, e.expiresAt);
    for (const key of removed) remove.run(key);
    removeJournal.run(JOURNAL, last);
  });
  return { append, fold };
}
