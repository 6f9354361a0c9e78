import type { Kysely } from 'kysely';
import { LIMITS_SCHEMA, schemaFile } from '../dialect.js';
import { moveTable } from './move-table.js';

/**
 * SQLite only: moves `limit_state` out of the directory's file into the attached limits file
 * (dialect.ts limitsPathFor), rows and index as they were: the embedded limits save it before
 * every answer that changed a budget, and a commit to the directory's file drops the page cache
 * of every connection matching against it. PostgreSQL keeps one database.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if ((await schemaFile(db, LIMITS_SCHEMA)) === undefined) return;
  await moveTable(db, 'limit_state', 'main', LIMITS_SCHEMA);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if ((await schemaFile(db, LIMITS_SCHEMA)) === undefined) return;
  await moveTable(db, 'limit_state', LIMITS_SCHEMA, 'main');
}
