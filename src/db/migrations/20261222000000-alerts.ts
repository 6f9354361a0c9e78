import type { Kysely } from 'kysely';

/**
 * Alerts (src/alerts): one row per alert fired, unique by its dedup key so that any number of
 * serving nodes and workers evaluating the same condition fire it once; a delivery row per sink
 * of each matching route (an outbox, retried with backoff); and the episode each level condition
 * (breaker, engine behind, webhooks failing) is in, switched with a conditional update.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('dedup_key', 'varchar(300)', (c) => c.notNull().unique())
    .addColumn('condition', 'varchar(40)', (c) => c.notNull())
    .addColumn('action', 'varchar(10)', (c) => c.notNull())
    .addColumn('subject', 'varchar(200)', (c) => c.notNull())
    .addColumn('severity', 'varchar(10)', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('test', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('alerts_created').on('alerts').columns(['created_at']).execute();
  await db.schema
    .createTable('alert_deliveries')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('alert_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('route', 'varchar(40)', (c) => c.notNull())
    .addColumn('sink', 'varchar(20)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('delivered_at', 'bigint')
    .addColumn('last_error', 'varchar(300)')
    .execute();
  await db.schema.createIndex('alert_deliveries_due').on('alert_deliveries').columns(['next_attempt_at']).execute();
  await db.schema.createIndex('alert_deliveries_alert').on('alert_deliveries').columns(['alert_id']).execute();
  await db.schema
    .createTable('alert_conditions')
    .addColumn('condition', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('episode', 'varchar(64)')
    .addColumn('since', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('alert_conditions').execute();
  await db.schema.dropTable('alert_deliveries').execute();
  await db.schema.dropTable('alerts').execute();
}
