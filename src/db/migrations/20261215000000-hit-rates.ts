import type { Kysely } from 'kysely';

/**
 * The hit rate of each country's address books (src/abuse/hit-rates.ts): the abuse engine learns
 * it from the population's calls and writes it here; every serving node reads it to judge a sync's
 * answers (answers.ts). A row per calling country ('*' for all together), no number, no account.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('hit_rates')
    .addColumn('country', 'varchar(8)', (c) => c.primaryKey())
    .addColumn('numbers', 'double precision', (c) => c.notNull())
    .addColumn('matched', 'double precision', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('hit_rates').execute();
}
