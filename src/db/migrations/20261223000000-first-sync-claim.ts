import type { Kysely } from 'kysely';

/**
 * accounts.first_sync_at: when a new account's one sync that the answers rule leaves unjudged was
 * claimed (src/abuse/first-sync.ts), null until then. Kept in the database, not a node's
 * memory, so neither a restart nor another serving node hands the account a second one: the
 * claim is a conditional update that exactly one caller wins. Nullable with no default, so the
 * directory's writes (the mirror, the bulk import) leave it alone; erasing the account erases it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('first_sync_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').dropColumn('first_sync_at').execute();
}
