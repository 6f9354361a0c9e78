import type { Kysely } from 'kysely';

/**
 * Lookup events for the abuse engine. Strings are unbounded text: a value too long for a column
 * would make an event fail to store on every redelivery and stall its consumer. No foreign key
 * to accounts: an event may arrive after its account was erased and must still store.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('lookup_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text')
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('subnet', 'text', (c) => c.notNull())
    .addColumn('subnet48', 'text')
    // ASNs are 32-bit unsigned: beyond PostgreSQL's integer.
    .addColumn('asn', 'bigint')
    .addColumn('country', 'text')
    .addColumn('network', 'text', (c) => c.notNull())
    .addColumn('tier', 'text')
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('scope', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('numbers', 'integer', (c) => c.notNull())
    .addColumn('new_numbers', 'integer', (c) => c.notNull())
    .addColumn('matched', 'integer', (c) => c.notNull())
    .addColumn('revealed', 'text', (c) => c.notNull())
    .addColumn('blocks', 'text', (c) => c.notNull())
    .addColumn('account_created_at', 'bigint', (c) => c.notNull())
    .addColumn('phone_region', 'text')
    .addColumn('handled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Retention deletes by age; the detectors read one account's recent history.
  await db.schema.createIndex('lookup_events_at').on('lookup_events').column('at').execute();
  await db.schema.createIndex('lookup_events_account_at').on('lookup_events').columns(['account_id', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('lookup_events').execute();
}
