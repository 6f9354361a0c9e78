import { sql, type Kysely } from 'kysely';

/**
 * The reinstatements by time, in an index that holds nothing else. Every engine reads the
 * reinstatements of the grace period (30 days by default) once an evaluation
 * (abuse/resume.ts syncReinstatements); through the index by time alone (20261229000000) that read
 * walks every action of those 30 days to keep the few reinstatements: 1.8 ms a read at 20,000
 * accounts in the simulator, growing with every suspension. The index by (kind, time) it replaced
 * was chosen by SQLite's planner for one account's actions and read every action of a kind ever made.
 * Partial, so it serves only a query whose text names the kind: syncReinstatements writes it as a
 * literal, and the reads of one account's actions, which bind their kind, never see it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('enforcement_actions_reinstate_at').on('enforcement_actions').column('at').where(sql.ref('action'), '=', 'reinstate').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('enforcement_actions_reinstate_at').execute();
}
