import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * Exposure rows per period (incidents/exposure-periods.ts): the key gains the row's time, so a pair
 * keeps the first answer of each period the exposure rule judges apart (the revealed id's new
 * holder, the attacker's reinstatement), not only its first answer ever. Existing rows, each pair's
 * first answer, are kept as they are.
 *
 * A primary key cannot be changed in place on SQLite, so both dialects build the new table, copy
 * and swap it in: the same statements on both, through the schema builder. Nodes of the release
 * before this one record campaigns against the old key: stop them before migrating (README).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await atomically(db, async (db) => {
    await db.schema
      .createTable('exposures_by_period')
      .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
      .addColumn('attacker_account_id', 'text', (c) => c.notNull())
      .addColumn('revealed_account_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('exposures_period_pk', ['campaign_id', 'attacker_account_id', 'revealed_account_id', 'at'])
      .execute();
    await sql`INSERT INTO exposures_by_period (campaign_id, attacker_account_id, revealed_account_id, at)
      SELECT campaign_id, attacker_account_id, revealed_account_id, at FROM exposures`.execute(db);
    await swap(db, 'exposures_by_period');
  });
}

/** Back to one row per pair: its first answer. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await atomically(db, async (db) => {
    await db.schema
      .createTable('exposures_by_pair')
      .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
      .addColumn('attacker_account_id', 'text', (c) => c.notNull())
      .addColumn('revealed_account_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('exposures_pk', ['campaign_id', 'attacker_account_id', 'revealed_account_id'])
      .execute();
    await sql`INSERT INTO exposures_by_pair (campaign_id, attacker_account_id, revealed_account_id, at)
      SELECT campaign_id, attacker_account_id, revealed_account_id, MIN(at) FROM exposures
      GROUP BY campaign_id, attacker_account_id, revealed_account_id`.execute(db);
    await swap(db, 'exposures_by_pair');
  });
}

/**
 * Kysely runs a PostgreSQL migration in a transaction but not an SQLite one (its SQLite dialect
 * declares no transactional DDL, though SQLite has it): a process stopped between the copy and the
 * swap would leave a half-built table that every later `migrate` trips on, or no `exposures` at all.
 */
async function atomically(db: Kysely<unknown>, body: (db: Kysely<unknown>) => Promise<void>): Promise<void> {
  if (isPostgres(db)) await body(db);
  else await db.transaction().execute(body);
}

async function swap(db: Kysely<unknown>, built: string): Promise<void> {
  await db.schema.dropIndex('exposures_revealed').execute();
  await db.schema.dropTable('exposures').execute();
  await db.schema.alterTable(built).renameTo('exposures').execute();
  // The disclosure groups by exposed account; an app's "who saw me" question starts from it.
  await db.schema.createIndex('exposures_revealed').on('exposures').columns(['revealed_account_id', 'campaign_id']).execute();
}
