import { sql, type Kysely } from 'kysely';

/**
 * Standing decisions (DESIGN §2): every restriction in force (throttle, challenge, suspension,
 * sign-up hold, later an operator's block) as a durable row that every serving node reads, so no
 * decision lives only in the memory of the process that made it (src/incidents/decisions.ts).
 * Rows are written once and changed once more at most, when lifted; `changed_at` orders both for
 * the nodes' incremental reads. No foreign keys, like enforcement_actions: the record outlives
 * an account's erasure.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('decisions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('lifted_at', 'bigint')
    .addColumn('lifted_by', 'text')
    .addColumn('lift_reason', 'text')
    .addColumn('cluster_id', 'text')
    .addColumn('campaign_id', 'text')
    .addColumn('action_id', 'text')
    .addColumn('batch_id', 'text')
    .addColumn('changed_at', 'bigint', (c) => c.notNull())
    .execute();
  // The nodes' incremental read: rows changed after a point, in order.
  await db.schema.createIndex('decisions_changed').on('decisions').columns(['changed_at', 'id']).execute();
  // A node's first read: the rows not lifted (expired ones are few next to the history).
  await db.schema.createIndex('decisions_open').on('decisions').column('expires_at').where(sql.ref('lifted_at'), 'is', null).execute();
  await db.schema.createIndex('decisions_subject').on('decisions').columns(['scope', 'subject']).execute();
  // A reinstatement lifts what the actions it reverses caused (the sign-up holds of a suspension).
  await db.schema.createIndex('decisions_action').on('decisions').column('action_id').execute();

  // What was already in force before this table existed keeps being enforced: one decision per
  // enforcement action not reversed (sign-up holds were only ever in an engine's memory).
  await sql`
    INSERT INTO decisions (id, scope, subject, action, reason, source, actor, created_at, expires_at, cluster_id, campaign_id, action_id, changed_at)
    SELECT 'dec_' || id, 'account', account_id, action, reason, CASE WHEN actor = 'engine' THEN 'engine' ELSE 'operator' END, actor,
           at, expires_at, cluster_id, campaign_id, id, at
    FROM enforcement_actions
    WHERE reversed_by IS NULL AND action IN ('throttle', 'challenge', 'suspend')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('decisions').execute();
}
