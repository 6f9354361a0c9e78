import { sql, type Kysely } from 'kysely';
import { EVENTS_SCHEMA, isPostgres } from '../dialect.js';

/**
 * SQLite only: moves `lookup_events` out of the directory's file into the attached events file
 * (see eventsPathFor), rows and indexes as they were. The table is re-created from its own DDL,
 * so this migration cannot drift from the one that first made it. PostgreSQL keeps one database.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) return;
  const attached = await sql<{ name: string }>`PRAGMA database_list`.execute(db);
  // A handle opened without the events file keeps the table where it is; openDb always attaches it.
  if (!attached.rows.some((r) => r.name === EVENTS_SCHEMA)) return;
  const ddl = await sql<{ type: string; name: string; sql: string | null }>`
    SELECT type, name, sql FROM main.sqlite_master WHERE tbl_name = 'lookup_events' ORDER BY type DESC`.execute(db);
  const table = ddl.rows.find((r) => r.type === 'table');
  if (!table?.sql) return;
  const into = (statement: string, kind: 'TABLE' | 'INDEX', name: string) =>
    statement.replace(new RegExp(`^CREATE ${kind} "?${name}"?`, 'i'), `CREATE ${kind} IF NOT EXISTS "${EVENTS_SCHEMA}"."${name}"`);
  await sql.raw(into(table.sql, 'TABLE', 'lookup_events')).execute(db);
  for (const index of ddl.rows) {
    if (index.type === 'index' && index.sql) await sql.raw(into(index.sql, 'INDEX', index.name)).execute(db);
  }
  await sql.raw(`INSERT OR IGNORE INTO "${EVENTS_SCHEMA}"."lookup_events" SELECT * FROM main."lookup_events"`).execute(db);
  await sql.raw(`DROP TABLE main."lookup_events"`).execute(db);
}


export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) return;
  const attached = await sql<{ name: string; file: string }>`PRAGMA database_list`.execute(db);
  if (!attached.rows.some((r) => r.name === EVENTS_SCHEMA)) return;
  const ddl = await sql<{ type: string; name: string; sql: string | null }>`
    SELECT type, name, sql FROM "${sql.raw(EVENTS_SCHEMA)}".sqlite_master WHERE tbl_name = 'lookup_events' ORDER BY type DESC`.execute(db);
  const table = ddl.rows.find((r) => r.type === 'table');
  if (!table?.sql) return;
  const back = (statement: string, kind: 'TABLE' | 'INDEX', name: string) =>
    statement.replace(new RegExp(`^CREATE ${kind} (IF NOT EXISTS )?("?${EVENTS_SCHEMA}"?\\.)?"?${name}"?`, 'i'), `CREATE ${kind} main."${name}"`);
  await sql.raw(back(table.sql, 'TABLE', 'lookup_events')).execute(db);
  for (const index of ddl.rows) {
    if (index.type === 'index' && index.sql) await sql.raw(back(index.sql, 'INDEX', index.name)).execute(db);
  }
  await sql.raw(`INSERT INTO main."lookup_events" SELECT * FROM "${EVENTS_SCHEMA}"."lookup_events"`).execute(db);
  await sql.raw(`DROP TABLE "${EVENTS_SCHEMA}"."lookup_events"`).execute(db);
}
