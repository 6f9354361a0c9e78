import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * Who may find a contact point (directory/discoverability.ts): everyone, or only the people in the
 * owner's own latest synced address book (Telegram's "My contacts").
 *
 * - contact_points.discoverable_by: the audience while the discovery purpose is set; every row
 *   written before this migration is 'everyone', which is what the discovery purpose meant then.
 *   The derived `discoverable` column gains a value: 1 everyone (the hot path's partial index,
 *   unchanged), 2 my contacts (reached only through contact_reach), 0 nobody.
 * - contact_books: the keyed hashes of the numbers the owner's latest sync sent, kept only while
 *   one of the owner's points is in contacts mode.
 * - contact_reach: derived from the two (contacts-mode discoverable point × book entry), keyed so
 *   a lookup is one primary-key probe on (asked number's hash, caller's phone hash): a
 *   contacts-mode number that does not match this caller costs the same single index miss as a
 *   number nobody registered.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const bytes = isPostgres(db) ? sql`bytea` : sql`blob`;
  await db.schema
    .alterTable('contact_points')
    .addColumn('discoverable_by', 'varchar(8)', (c) => c.notNull().defaultTo('everyone'))
    .execute();

  await db.schema
    .createTable('contact_books')
    .addColumn('account_id', 'varchar(128)', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('hash', bytes, (c) => c.notNull())
    .addPrimaryKeyConstraint('contact_books_pk', ['account_id', 'hash'])
    .execute();

  await db.schema
    .createTable('contact_reach')
    .addColumn('point_hash', bytes, (c) => c.notNull())
    .addColumn('book_hash', bytes, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('point_id', 'varchar(32)', (c) => c.notNull())
    .addColumn('account_id', 'varchar(128)', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    // Ordered like the discoverable index, so the earliest claim on a number wins without a sort.
    .addPrimaryKeyConstraint('contact_reach_pk', ['point_hash', 'book_hash', 'created_at', 'point_id'])
    .execute();
  await db.schema.createIndex('contact_reach_account').on('contact_reach').column('account_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('contact_reach').execute();
  await db.schema.dropTable('contact_books').execute();
  await db.schema.alterTable('contact_points').dropColumn('discoverable_by').execute();
}
