import type { Kysely } from 'kysely';

/**
 * The incarnation (accounts.mirrored_at) of each account erased within the last day
 * (directory/incarnations.ts): an id mirrored again gets a later one even in the same millisecond,
 * or on a node whose clock runs behind, so nothing bound to the erased holder fits the new one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('erased_incarnations')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('mirrored_at', 'bigint', (c) => c.notNull())
    .addColumn('erased_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('erased_incarnations_at').ifNotExists().on('erased_incarnations').column('erased_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('erased_incarnations').ifExists().execute();
}
