import type { Kysely } from 'kysely';

/**
 * The embedded limits store's state (buckets, breaker, strikes, used challenge ids), saved so a
 * restart of the one node does not hand every caller a fresh budget. Keys carry no number: they
 * are layer ids with an account, device, address, subnet, ASN or country.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('limit_state')
    .addColumn('key', 'varchar(512)', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('limit_state_expires').on('limit_state').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('limit_state').execute();
}
