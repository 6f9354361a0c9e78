import type { Kysely } from 'kysely';

/**
 * enforcement_actions by time, in place of by (kind, time) (20261228000000). The reads of what was
 * recorded since a last look (abuse/resume.ts syncReinstatements, abuse/stages.ts ActionSync) need
 * only the time: they filter the kind of a few recent rows. The index by kind did worse than
 * nothing for the reads of one account's actions (`account_id IN (...) AND action = ?`: a sign-up's
 * open suspensions, what is in force against a caller, a campaign's reinstatements): SQLite, with
 * no statistics, scored its equality on the kind as good as the account's and chose it, reading
 * every action of that kind ever recorded, once per account mirrored.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('enforcement_actions_action_at').ifExists().execute();
  await db.schema.createIndex('enforcement_actions_at').on('enforcement_actions').column('at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('enforcement_actions_at').execute();
  await db.schema.createIndex('enforcement_actions_action_at').on('enforcement_actions').columns(['action', 'at']).execute();
}
