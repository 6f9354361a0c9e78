import type { Kysely } from 'kysely';

/**
 * The account's own phone country when the app sends none: `contact_points.region` keeps the region
 * of each phone number (never the number), so `accounts.derived_phone_region` can be recomputed
 * when a point is re-purposed, unverified or deleted. Rows written before this migration have no
 * region until the app re-mirrors or re-imports them: findguard cannot re-derive it from a hash.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('contact_points').addColumn('region', 'varchar(2)').execute();
  await db.schema.alterTable('accounts').addColumn('derived_phone_region', 'varchar(2)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').dropColumn('derived_phone_region').execute();
  await db.schema.alterTable('contact_points').dropColumn('region').execute();
}
