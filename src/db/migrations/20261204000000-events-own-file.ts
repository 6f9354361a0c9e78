import type { Kysely } from 'kysely';
import { EVENTS_SCHEMA, eventsSchemaFile } from '../dialect.js';
import { moveTable } from './move-table.js';

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
  await moveTable(db, 'lookup_events', from, to);
}
