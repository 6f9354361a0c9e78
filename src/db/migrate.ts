import { Migrator, sql, type Kysely, type MigrationResultSet } from 'kysely';
import { EVENTS_SCHEMA, eventsSchemaFile, LIMITS_SCHEMA, schemaFile } from './dialect.js';
import { moveTable } from './migrations/move-table.js';
import type { Database } from './schema.js';
import { migrations } from './migrations/index.js';

/**
 * Applies every pending migration, then makes sure SQLite's events file holds the table the
 * migrations made (see ensureEventsTable): `eventsFileRestarted` names the file started again.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResultSet & { eventsFileRestarted?: string }> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error instanceof Error ? result.error : new Error(String(result.error));
  const restarted = await ensureEventsTable(db);
  await checkLimitsFile(db);
  return restarted ? { ...result, eventsFileRestarted: restarted } : result;
}

/** The migration that put limit_state in a file of its own. */
const LIMITS_FILE_MIGRATION = '20261230000000-limit-state-own-file';
/** The migration that first made limit_state. */
const LIMIT_STATE_MIGRATION = '20261212000000-limit-state';
/** The migration that took limit_state's index on expires_at away again. */
const LIMIT_STATE_INDEX_MIGRATION = '20270106000000-limit-state-expiry-index';

/**
 * SQLite's limits file went missing (deleted, or not restored with the directory's file): every
 * budget spent, every strike and every used proof-of-work id it held is gone, and a node started
 * on a new, empty one would answer every caller afresh. Unlike the events file it is not started
 * again here: serve refuses to start until an operator accepts the loss
 * (`findguard limits accept-lost-state`, acceptLostLimitState).
 */
export class LimitStateLostError extends Error {
  constructor(readonly file: string) {
    super(
      `the limits' saved state file ${file} is missing: every budget it held would start full. Restore it from the backup taken with findguard.sqlite, ` +
        'or accept that every budget spent is forgotten with `findguard limits accept-lost-state --reason TEXT` (audit-logged)',
    );
    this.name = 'LimitStateLostError';
  }
}

/** Throws LimitStateLostError where the limits file should hold limit_state and holds nothing. */
export async function checkLimitsFile(db: Kysely<Database>): Promise<void> {
  const file = await lostLimitsFile(db);
  if (file !== undefined) throw new LimitStateLostError(file);
}

/** The limits file ('' in memory) when it lost limit_state, else undefined (also PostgreSQL). */
export async function lostLimitsFile(db: Kysely<Database>): Promise<string | undefined> {
  const loose = db as unknown as Kysely<unknown>;
  const file = await schemaFile(loose, LIMITS_SCHEMA);
  if (file === undefined) return undefined;
  const count = async (query: ReturnType<typeof sql<{ n: number }>>) => Number((await query.execute(db)).rows[0]?.n ?? 0);
  // Never migrated this far: nothing was ever saved in the limits file.
  if ((await count(sql`SELECT count(*) AS n FROM main.sqlite_master WHERE name = 'kysely_migration'`)) === 0) return undefined;
  if ((await count(sql`SELECT count(*) AS n FROM main.kysely_migration WHERE name = ${LIMITS_FILE_MIGRATION}`)) === 0) return undefined;
  return (await tablePresent(db, 'limit_state', LIMITS_SCHEMA)) ? undefined : file;
}

/** An operator accepted the loss: an empty limit_state in the limits file, made by the same migrations. Returns the file, or undefined when nothing was lost. */
export async function acceptLostLimitState(db: Kysely<Database>): Promise<string | undefined> {
  const file = await lostLimitsFile(db);
  if (file === undefined) return undefined;
  const loose = db as unknown as Kysely<unknown>;
  await migrations[LIMIT_STATE_MIGRATION]!.up(loose);
  await moveTable(loose, 'limit_state', 'main', LIMITS_SCHEMA);
  await migrations[LIMIT_STATE_INDEX_MIGRATION]!.up(loose);
  return file;
}

/**
 * SQLite keeps lookup events, and the hit rates learned from them, in a file of their own. If that
 * file went missing (deleted to save space, not restored with the directory's), SQLite attaches a
 * new empty one and every event would fail to store: its tables are made again, by the same
 * migrations, and the caller is told. Returns the file it had to start again (':memory:' in
 * memory), or undefined (nothing to do; PostgreSQL never has to).
 */
export async function ensureEventsTable(db: Kysely<Database>): Promise<string | undefined> {
  const loose = db as unknown as Kysely<unknown>;
  const file = await eventsSchemaFile(loose);
  if (file === undefined) return undefined;
  const missing = await missingEventsTables(db);
  for (const table of missing) for (const name of EVENTS_FILE_TABLES[table]) await migrations[name]!.up(loose);
  return missing.length > 0 ? file || ':memory:' : undefined;
}

/** The events file's tables, each with the migrations that make it as it is now, in order. */
const EVENTS_FILE_TABLES = {
  lookup_events: ['20261202000000-lookup-events', '20261204000000-events-own-file', '20261205000000-events-handled-flag'],
  hit_rates: ['20261215000000-hit-rates', '20261231000000-hit-rates-events-file'],
} as const;

async function missingEventsTables(db: Kysely<Database>): Promise<Array<keyof typeof EVENTS_FILE_TABLES>> {
  const missing: Array<keyof typeof EVENTS_FILE_TABLES> = [];
  for (const table of Object.keys(EVENTS_FILE_TABLES) as Array<keyof typeof EVENTS_FILE_TABLES>) {
    if (!(await tablePresent(db, table, EVENTS_SCHEMA))) missing.push(table);
  }
  return missing;
}

/**
 * The migrations this findguard has that the database has not run, oldest first; on SQLite also
 * a missing events file (which `migrate` starts again). Reads only.
 */
export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const pending = (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
  if (pending.length > 0) return pending;
  const loose = db as unknown as Kysely<unknown>;
  const file = await eventsSchemaFile(loose);
  if (file === undefined) return [];
  return (await missingEventsTables(db)).length === 0 ? [] : [`the lookup events file ${file || ':memory:'}`];
}

/** Whether `table` is in the directory's file (before its move) or in the attached `schema`'s file. */
async function tablePresent(db: Kysely<Database>, table: string, schema: string): Promise<boolean> {
  const found = await sql<{ n: number }>`
    SELECT (SELECT count(*) FROM main.sqlite_master WHERE name = ${table})
         + (SELECT count(*) FROM ${sql.raw(schema)}.sqlite_master WHERE name = ${table}) AS n`.execute(db);
  return Number(found.rows[0]?.n ?? 0) > 0;
}
