import { sql, type Kysely } from 'kysely';
import { LIMITS_SCHEMA, schemaFile } from '../dialect.js';

/**
 * Drops limit_state's index on expires_at. Its one reader is the delete of expired entries once
 * per start (limits/memory-persistence.ts load), which a scan of the table serves; every save of
 * the embedded limits paid for it, as each upsert moved the entry's index row to a page of its own.
 * Measured (.bench micro, the embedded store with its journal, callers spread over 100,000
 * accounts): 56 -> 38.5 µs of CPU per charged call. SQLite keeps the table in the limits file
 * where that file is attached (migration 20261230000000).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if ((await schemaFile(db, LIMITS_SCHEMA)) !== undefined) await sql.raw(`DROP INDEX IF EXISTS "${LIMITS_SCHEMA}"."limit_state_expires"`).execute(db);
  else await db.schema.dropIndex('limit_state_expires').ifExists().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if ((await schemaFile(db, LIMITS_SCHEMA)) !== undefined) {
    await sql.raw(`CREATE INDEX IF NOT EXISTS "${LIMITS_SCHEMA}"."limit_state_expires" ON "limit_state" ("expires_at")`).execute(db);
  } else await db.schema.createIndex('limit_state_expires').ifNotExists().on('limit_state').column('expires_at').execute();
}
