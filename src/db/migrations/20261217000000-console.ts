import type { Kysely } from 'kysely';

/**
 * The operator console (src/console): decisions an operator adds as a trial are stored like the
 * others but marked shadow (listed as what they "would" do, never enforced), and a bulk action's
 * rows are found by their batch id when it is undone as one; a campaign's page finds the
 * decisions of its campaign and cluster; an account is found by its handle.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('decisions').addColumn('shadow', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('decisions_batch').on('decisions').column('batch_id').execute();
  // A campaign's page shows the decisions taken against its cluster.
  await db.schema.createIndex('decisions_campaign').on('decisions').column('campaign_id').execute();
  await db.schema.createIndex('decisions_cluster').on('decisions').column('cluster_id').execute();
  // The console finds accounts by handle (never by number).
  await db.schema.createIndex('accounts_handle').on('accounts').column('handle').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('accounts_handle').execute();
  await db.schema.dropIndex('decisions_cluster').execute();
  await db.schema.dropIndex('decisions_campaign').execute();
  await db.schema.dropIndex('decisions_batch').execute();
  await db.schema.alterTable('decisions').dropColumn('shadow').execute();
}
