import { sql, type Kysely } from 'kysely';

/**
 * Incident response: enforcement actions, campaigns and their exact exposures, the webhook
 * outbox and the operators' audit log. Like lookup_events, no foreign keys to accounts: these
 * records must outlive an account's erasure (a disclosure still has to say what was exposed).
 * Ids and free text are unbounded text for the same reason as there.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('enforcement_actions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('cluster_id', 'text')
    .addColumn('campaign_id', 'text')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('evidence', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('reversed_by', 'text')
    .execute();
  await db.schema.createIndex('enforcement_actions_account_at').on('enforcement_actions').columns(['account_id', 'at']).execute();

  await db.schema
    .createTable('campaigns')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('cluster_id', 'text', (c) => c.notNull())
    .addColumn('detected_at', 'bigint', (c) => c.notNull())
    .addColumn('first_seen', 'bigint', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('score', 'double precision', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('evidence', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // A cluster has at most one open campaign: two workers detecting it at once cannot both open one.
  await db.schema
    .createIndex('campaigns_open_cluster')
    .on('campaigns')
    .column('cluster_id')
    .unique()
    .where(sql.ref('status'), '=', 'open')
    .execute();
  await db.schema.createIndex('campaigns_detected_at').on('campaigns').column('detected_at').execute();

  await db.schema
    .createTable('campaign_accounts')
    .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('campaign_accounts_pk', ['campaign_id', 'account_id'])
    .execute();
  await db.schema.createIndex('campaign_accounts_account').on('campaign_accounts').column('account_id').execute();

  await db.schema
    .createTable('exposures')
    .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
    .addColumn('attacker_account_id', 'text', (c) => c.notNull())
    .addColumn('revealed_account_id', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('exposures_pk', ['campaign_id', 'attacker_account_id', 'revealed_account_id'])
    .execute();
  // The disclosure groups by exposed account; an app's "who saw me" question starts from it.
  await db.schema.createIndex('exposures_revealed').on('exposures').columns(['revealed_account_id', 'campaign_id']).execute();

  await db.schema
    .createTable('webhook_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('delivered_at', 'bigint')
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('webhook_outbox_due').on('webhook_outbox').column('next_attempt_at').execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_target_at').on('audit_log').columns(['target', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
  await db.schema.dropTable('webhook_outbox').execute();
  await db.schema.dropTable('exposures').execute();
  await db.schema.dropTable('campaign_accounts').execute();
  await db.schema.dropTable('campaigns').execute();
  await db.schema.dropTable('enforcement_actions').execute();
}
