import type { Kysely } from 'kysely';

/**
 * enforcement_actions by kind and time. Every engine reads the reinstatements recorded since its
 * last look (abuse/resume.ts syncReinstatements, once an evaluation) and the partition stages the
 * actions recorded since theirs (abuse/stages.ts ActionSync); with only the (account_id, at) index
 * each read scanned the whole table, which grows by an action per suspension: 2 ms a read at
 * 20,000 accounts in the simulator, 5% of its main thread. Not partial: the kind is a bound
 * parameter, and a planner uses a partial index only when the query's text implies its condition.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('enforcement_actions_action_at').on('enforcement_actions').columns(['action', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('enforcement_actions_action_at').execute();
}
