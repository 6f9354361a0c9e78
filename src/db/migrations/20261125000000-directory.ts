import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  const bytes = isPostgres(db) ? sql`bytea` : sql`blob`;
  await db.schema
    .createTable('accounts')
    .addColumn('id', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('handle', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('app_status', 'varchar(16)', (c) => c.notNull().defaultTo('active'))
    .addColumn('fg_status', 'varchar(16)', (c) => c.notNull().defaultTo('active'))
    .addColumn('phone_region', 'varchar(2)')
    .addColumn('signup_ip', 'varchar(45)')
    .addColumn('signup_device', 'varchar(128)')
    .addColumn('signup_user_agent', 'varchar(512)')
    .addColumn('mirrored_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('contact_points')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('account_id', 'varchar(128)', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('kind', 'varchar(8)', (c) => c.notNull())
    .addColumn('key_version', 'integer', (c) => c.notNull())
    .addColumn('hash', bytes, (c) => c.notNull())
    .addColumn('purposes', 'integer', (c) => c.notNull())
    .addColumn('verified', 'integer', (c) => c.notNull())
    // Derived: purpose discovery, verified, account active. Kept on the row so the hot path's
    // index holds only discoverable entries (see below).
    .addColumn('discoverable', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('contact_points_account_value', ['account_id', 'key_version', 'hash'])
    .execute();
  // The discovery hot path. Partial, so every number that must not match (unregistered,
  // undiscoverable, 2FA-only, unverified, suspended) is the same index miss: equal work, equal
  // time. Ordered so the earliest claim on a number wins without a sort. The kind is in the HMAC.
  await db.schema
    .createIndex('contact_points_discoverable')
    .on('contact_points')
    .columns(['hash', 'created_at', 'id'])
    .where(sql.ref('discoverable'), '=', 1)
    .execute();

  await db.schema
    .createTable('findguard_meta')
    .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('findguard_meta').execute();
  await db.schema.dropTable('contact_points').execute();
  await db.schema.dropTable('accounts').execute();
}
