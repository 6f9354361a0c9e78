import { sql, type Kysely } from 'kysely';
import { EVENTS_SCHEMA, eventsSchemaFile } from '../dialect.js';

/**
 * SQLite only: moves `lookup_events` out of the directory's file into the attached events file
 * (see eventsPathFor), rows and indexes as they were. The table is re-created from its own DDL,
 * so this migration cannot drift from the one that first made it. PostgreSQL keeps one database.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await moveEvents(db, 'main', EVENTS_SCHEMA);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await moveEvents(db, EVENTS_SCHEMA, 'main');
}

async function moveEvents(db: Kysely<unknown>, from: string, to: string): Promise<void> {
  // A handle opened without the events file keeps the table where it is; openDb always attaches it.
  if ((await eventsSchemaFile(db)) === undefined) return;
  const ddl = await sql<{ type: string; name: string; sql: string | null }>`
    SELECT type, name, sql FROM "${sql.raw(from)}".sqlite_master WHERE tbl_name = 'lookup_events' ORDER BY type DESC`.execute(db);
  const table = ddl.rows.find((r) => r.type === 'table');
  if (!table?.sql) return;
  // The stored DDL names the object bare, or (made by an earlier move) with a schema and IF NOT EXISTS.
  const retarget = (statement: string, kind: 'TABLE' | 'INDEX', name: string) =>
    statement.replace(new RegExp(`^CREATE ${kind} (IF NOT EXISTS )?("?\\w+"?\\.)?"?${name}"?`, 'i'), `CREATE ${kind} IF NOT EXISTS "${to}"."${name}"`);
  await sql.raw(retarget(table.sql, 'TABLE', 'lookup_events')).execute(db);
  for (const index of ddl.rows) {
    if (index.type === 'index' && index.sql) await sql.raw(retarget(index.sql, 'INDEX', index.name)).execute(db);
  }
  await sql.raw(`INSERT OR IGNORE INTO "${to}"."lookup_events" SELECT * FROM "${from}"."lookup_events"`).execute(db);
  await sql.raw(`DROP TABLE "${from}"."lookup_events"`).execute(db);
}
