import type { Kysely } from 'kysely';

/**
 * Which attacker accounts an exposure notice told its person of (a JSON array of account ids), or,
 * for a covered row, which other notices had told them. "One notice per exposure, whichever
 * incident tells it first" read that from the campaigns' exposures as they are now: a pair a
 * campaign recorded after its notice was written (a late answer) counted as told, and no incident
 * ever told it. Null on rows written before: those are still read the old way.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('exposure_notices').addColumn('told_attackers', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('exposure_notices').dropColumn('told_attackers').execute();
}
