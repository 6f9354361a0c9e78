import type { Kysely } from 'kysely';

/**
 * `lookup_events.handled` goes: which events the abuse engine still needs is known in the memory
 * of the process that holds the engine (see EventPipeline), and marking every row handled was a
 * second write of every row (on PostgreSQL, a new row version in every index).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('lookup_events').dropColumn('handled').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('lookup_events').addColumn('handled', 'integer', (c) => c.notNull().defaultTo(1)).execute();
}
