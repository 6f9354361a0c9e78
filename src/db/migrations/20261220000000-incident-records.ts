import type { Kysely } from 'kysely';

/**
 * Incidents (src/incidents/incident-records.ts): campaigns gathered for disclosure, the time
 * findguard's operators became aware (the GDPR Art. 33 72-hour clock), the regulator's report in
 * phases (a first report, then supplements) and each phase's approvals (two-person rule).
 * No foreign keys to campaigns: like the exposures, an incident must outlive anything it names.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('incidents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('aware_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('owner', 'text')
    .addColumn('opened_by', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('notes', 'text', (c) => c.notNull())
    // The campaign the engine opened it for: unique, so two workers crossing the threshold at once open one.
    .addColumn('engine_campaign_id', 'text', (c) => c.unique())
    .addColumn('notified_at', 'bigint')
    .addColumn('notices', 'integer')
    .addColumn('closed_at', 'bigint')
    .execute();
  await db.schema.createIndex('incidents_status').on('incidents').columns(['status', 'aware_at']).execute();

  await db.schema
    .createTable('incident_campaigns')
    .addColumn('incident_id', 'text', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('campaign_id', 'text', (c) => c.notNull())
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('incident_campaigns_pk', ['incident_id', 'campaign_id'])
    .execute();
  await db.schema.createIndex('incident_campaigns_campaign').on('incident_campaigns').column('campaign_id').execute();

  await db.schema
    .createTable('incident_phases')
    .addColumn('incident_id', 'text', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('fields', 'text', (c) => c.notNull())
    .addColumn('authors', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('submitted_by', 'text')
    .addColumn('submitted_at', 'bigint')
    .addColumn('approved_at', 'bigint')
    .addPrimaryKeyConstraint('incident_phases_pk', ['incident_id', 'number'])
    .execute();

  await db.schema
    .createTable('incident_approvals')
    .addColumn('incident_id', 'text', (c) => c.notNull().references('incidents.id').onDelete('cascade'))
    .addColumn('phase', 'integer', (c) => c.notNull())
    .addColumn('operator_id', 'text', (c) => c.notNull())
    .addColumn('operator_name', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('incident_approvals_pk', ['incident_id', 'phase', 'operator_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('incident_approvals').execute();
  await db.schema.dropTable('incident_phases').execute();
  await db.schema.dropTable('incident_campaigns').execute();
  await db.schema.dropTable('incidents').execute();
}
