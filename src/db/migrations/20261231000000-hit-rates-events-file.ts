import type { Kysely } from 'kysely';
import { EVENTS_SCHEMA, eventsSchemaFile } from '../dialect.js';
import { moveTable } from './move-table.js';

/**
 * SQLite only: moves `hit_rates` into the attached events file, beside the events it is learned
 * from. The engine rewrites it every ten minutes of event time, and any commit to the directory's
 * file empties the page cache of every connection matching against it (the snapshot reader, each
 * match worker): over a simulated week that is a thousand cold starts for nothing. Losing it costs
 * what losing the events costs (the rates are learned again; the policy's prior stands meanwhile),
 * so it is started again with them (migrate.ts ensureEventsTable). PostgreSQL keeps one database.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if ((await eventsSchemaFile(db)) === undefined) return;
  await moveTable(db, 'hit_rates', 'main', EVENTS_SCHEMA);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if ((await eventsSchemaFile(db)) === undefined) return;
  await moveTable(db, 'hit_rates', EVENTS_SCHEMA, 'main');
}
