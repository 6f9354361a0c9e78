import { Migrator, sql, type Kysely, type MigrationResultSet } from 'kysely';
import { EVENTS_SCHEMA, eventsSchemaFile } from './dialect.js';
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
  return restarted ? { ...result, eventsFileRestarted: restarted } : result;
}

/**
 * SQLite keeps lookup events in a file of their own. If that file went missing (deleted to save
 * space, not restored with the directory's), SQLite attaches a new empty one and every event
 * would fail to store: the table is made again, by the same migrations, and the caller is told.
 * Returns the file it had to start again (':memory:' in memory), or undefined (nothing to do;
 * PostgreSQL never has to).
 */
export async function ensureEventsTable(db: Kysely<Database>): Promise<string | undefined> {
  const loose = db as unknown as Kysely<unknown>;
  const file = await eventsSchemaFile(loose);
  if (file === undefined) return undefined;
  if (await eventsTablePresent(db)) return undefined;
  for (const name of EVENTS_TABLE_MIGRATIONS) await migrations[name]!.up(loose);
  return file || ':memory:';
}

/** The migrations that make `lookup_events` as it is now, in order. */
const EVENTS_TABLE_MIGRATIONS = ['20261202000000-lookup-events', '20261204000000-events-own-file', '20261205000000-events-handled-flag'];

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
  return (await eventsTablePresent(db)) ? [] : [`the lookup events file ${file || ':memory:'}`];
}

async function eventsTablePresent(db: Kysely<Database>): Promise<boolean> {
  const found = await sql<{ n: number }>`
    SELECT (SELECT count(*) FROM main.sqlite_master WHERE name = 'lookup_events')
         + (SELECT count(*) FROM ${sql.raw(EVENTS_SCHEMA)}.sqlite_master WHERE name = 'lookup_events') AS n`.execute(db);
  return Number(found.rows[0]?.n ?? 0) > 0;
}
