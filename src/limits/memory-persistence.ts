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
}

/** Deletes per statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 300;

/**
 * Where the embedded limits store keeps what it must not forget across a restart or a crash
 * (table limit_state). The store calls it with what changed before a call that changed it resolves
 * (one write shared by the calls that arrive meanwhile), after a failed write, and on close.
 */
export class LimitStatePersistence implements LimitStateSaver {
  private readonly outage: OutageLog;
  private readonly fast: ((entries: readonly SavedEntry[], removed: readonly string[]) => void) | undefined;

  /** `sqlite`: the raw handle where the dialect is SQLite (see writeFast). */
  constructor(
    private readonly db: Kysely<Database>,
    logger: Logger,
    private readonly sqlite?: SQLite.Database,
  ) {
    this.fast = sqlite ? sqliteStatements(sqlite) : undefined;
    this.outage = new OutageLog({
      down: (err) => logger.error({ err: errorText(err) }, 'could not save the limits state; a restart now would forget the changes since'),
      up: () => logger.info('saving the limits state again'),
    });
  }

  async load(now: number): Promise<SavedEntry[]> {
    // Expired rows are dropped here, once per start, rather than on every save.
    await this.db.deleteFrom('limit_state').where('expires_at', '<=', now).execute();
    const rows = await this.db.selectFrom('limit_state').select(['key', 'state', 'expires_at']).execute();
    return rows.map((r) => ({ key: r.key, state: r.state, expiresAt: Number(r.expires_at) }));
  }

  /** Throws when the state could not be saved (the store keeps it for the next save). */
  async save(entries: readonly SavedEntry[], removed: readonly string[]): Promise<void> {
    if (entries.length === 0 && removed.length === 0) return;
    try {
      // Not while Kysely holds a transaction open on the connection across awaits (a directory
      // write): the rows would share its fate, so they wait for it through Kysely instead.
      if (this.fast && !this.sqlite?.inTransaction) this.fast(entries, removed);
      else await this.write(entries, removed);
    } catch (err) {
      this.outage.failed(err);
      throw err;
    }
    this.outage.ok();
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

/**
 * SQLite, the embedded default: a prepared upsert per entry in one synchronous transaction. Every
 * call that changes state now waits for this write (memory-store.ts), ~5 entries a lookup: this
 * measured 2.6-2.8 µs an entry against 3.6-4.5 µs through json_each (.bench micro, 530 entries a
 * save over 20,000 rows), as SQLite's JSON functions re-read each element for every field.
 */
function sqliteStatements(sqlite: SQLite.Database): (entries: readonly SavedEntry[], removed: readonly string[]) => void {
  const upsert = sqlite.prepare<[string, string, number]>(
    'INSERT INTO limit_state (key, state, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at',
  );
  const remove = sqlite.prepare<[string]>('DELETE FROM limit_state WHERE key = ?');
  return sqlite.transaction((entries: readonly SavedEntry[], removed: readonly string[]) => {
    for (const e of entries) upsert.run(e.key, e.state, e.expiresAt);
    for (const key of removed) remove.run(key);
  });
}
