import type { Kysely } from 'kysely';

/**
 * event_stream_positions: how far each Redis event stream's consumer group was read and
 * acknowledged (src/abuse/stream-positions.ts), kept in the database because a Redis that comes
 * back empty (a restart without persistence, a failover to a replica missing the last writes, a
 * FLUSHALL) forgets its own: the worker that finds the group gone, or the stream behind this
 * position, reports the events it lost. A row per stream and group; stream ids and times only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('event_stream_positions')
    .addColumn('stream_key', 'varchar(512)', (c) => c.notNull())
    .addColumn('group_name', 'varchar(128)', (c) => c.notNull())
    .addColumn('last_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('recorded_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('event_stream_positions_pkey', ['stream_key', 'group_name'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('event_stream_positions').execute();
}
