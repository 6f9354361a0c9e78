import type { Kysely } from 'kysely';

/**
 * Exposure notices (src/incidents/notices.ts): one per exposed account and incident (GDPR Art. 34).
 * Unlike the incident records, a notice is about its account and nobody else, so it goes with the
 * account: the foreign key erases it in the transaction that erases the account. The unique pair
 * (incident, account) makes notifying again a no-op. Its delivery status is read from its outbox
 * row (event_id), the one place the deliverer writes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('exposure_notices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('incident_id', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('exposure_notices_incident_account', ['incident_id', 'account_id'])
    .execute();
  await db.schema.createIndex('exposure_notices_account').on('exposure_notices').columns(['account_id', 'expires_at']).execute();
  await db.schema.createIndex('exposure_notices_incident_id').on('exposure_notices').columns(['incident_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('exposure_notices').execute();
}
