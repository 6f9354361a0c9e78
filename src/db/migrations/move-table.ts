import { sql, type Kysely } from 'kysely';

/**
 * SQLite: moves a table, its rows and its indexes from one attached file (schema) to another,
 * re-created from their own stored DDL so a move cannot drift from the migration that made the
 * table. Not a migration itself: the events' and the limits' own-file migrations use it.
 */
export async function moveTable(db: Kysely<unknown>, table: string, from: string, to: string): Promise<void> {
  const ddl = await sql<{ type: string; name: string; sql: string | null }>`
    SELECT type, name, sql FROM "${sql.raw(from)}".sqlite_master WHERE tbl_name = ${table} ORDER BY type DESC`.execute(db);
  const made = ddl.rows.find((r) => r.type === 'table');
  if (!made?.sql) return;
  // The stored DDL names the object bare, or (made by an earlier move) with a schema and IF NOT EXISTS.
  const retarget = (statement: string, kind: 'TABLE' | 'INDEX', name: string) =>
    statement.replace(new RegExp(`^CREATE ${kind} (IF NOT EXISTS )?("?\\w+"?\\.)?"?${name}"?`, 'i'), `CREATE ${kind} IF NOT EXISTS "${to}"."${name}"`);
  await sql.raw(retarget(made.sql, 'TABLE', table)).execute(db);
  for (const index of ddl.rows) {
    if (index.type === 'index' && index.sql) await sql.raw(retarget(index.sql, 'INDEX', index.name)).execute(db);
  }
  await sql.raw(`INSERT OR IGNORE INTO "${to}"."${table}" SELECT * FROM "${from}"."${table}"`).execute(db);
  await sql.raw(`DROP TABLE "${from}"."${table}"`).execute(db);
}
