import { sql, type Kysely } from 'kysely';

/**
 * The hourly purge of expired exposure notices (src/incidents/notices-delivery.ts) looked for
 * `expires_at <= now` among notices not yet emptied, and no index led with expires_at: both
 * dialects read the whole table every hour, and before every notification. A partial index on
 * the notices still holding their content keeps that to the ones due: emptied notices keep their
 * row forever ("already sent"), and would otherwise fill an index of every notice ever written.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('exposure_notices_live')
    .on('exposure_notices')
    .column('expires_at')
    .where(sql.ref('content'), '<>', sql.lit('null'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('exposure_notices_live').execute();
}
