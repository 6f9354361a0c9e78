import type { Kysely } from 'kysely';

/**
 * An approved phase of an incident's report keeps the facts it was approved with (JSON: counts,
 * window, attackers, measures, the evidence hash): the records go on changing (a late exposure, a
 * lifted decision), the approved report does not.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('incident_phases').addColumn('facts', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('incident_phases').dropColumn('facts').execute();
}
