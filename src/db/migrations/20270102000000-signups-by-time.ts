import { sql, type Kysely } from 'kysely';

/**
 * The accounts mirrored with a sign-up context, by creation time. A rebuilt engine reads the
 * sign-ups of the farming detector's retention (7 days) back from the accounts table, newest first
 * in pages (abuse/resume.ts storedSignups); without an index each page read every account ever
 * mirrored and sorted the window's. Partial: accounts mirrored without a sign-up context (an
 * import, most of a platform's history) are never read there, and the read names the condition.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('accounts_signup_created').on('accounts').columns(['created_at', 'id']).where(sql.ref('signup_ip'), 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('accounts_signup_created').execute();
}
