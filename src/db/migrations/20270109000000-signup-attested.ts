import type { Kysely } from 'kysely';

/**
 * Whether the app attested the device an account signed up from (Play Integrity, App Attest, or
 * its own check): 1 when it said so, 0 when it said not, null when it said nothing. The default
 * policy's `hosting-new` tier (no discovery for a week) is for fresh accounts on servers; a new
 * user whose phone keeps a VPN on signed up from a real phone, which only the app can vouch for.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('signup_attested', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').dropColumn('signup_attested').execute();
}
