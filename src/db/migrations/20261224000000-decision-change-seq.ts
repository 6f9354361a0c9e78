import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * decisions.change_seq: what the nodes' incremental reads follow instead of changed_at (a
 * writer's wall clock read before its transaction waited on locks: a row could commit older than
 * every node's read horizon and never reach them; test/review/decision-stamped-before-lock).
 *
 * Set by a trigger on every insert and update, whoever writes (the enforcer, the console, shadow
 * decisions, a future writer), so no write path can forget it:
 * - PostgreSQL: the writing transaction's id (pg_current_xact_id). Ids are not in commit order,
 *   but a reader's snapshot says exactly which ones it could not yet see; a node keeps the
 *   snapshot taken before its last read and next reads the rows whose transaction that snapshot
 *   did not see (decisions.ts, decisionsChangedSince). No clock, no overlap to size.
 * - SQLite: one more than the largest so far. Writers are serialised by the database lock and
 *   the value is taken inside the writing transaction, so values commit in increasing order.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('decisions').addColumn('change_seq', 'bigint').execute();
  if (isPostgres(db)) {
    await sql`create function decisions_change_seq() returns trigger language plpgsql as $$
      begin new.change_seq := pg_current_xact_id()::text::bigint; return new; end $$`.execute(db);
    await sql`create trigger decisions_change_seq before insert or update on decisions
      for each row execute function decisions_change_seq()`.execute(db);
    await sql`update decisions set change_seq = 0`.execute(db);
  } else {
    await sql`update decisions set change_seq = rowid`.execute(db);
    await sql`create trigger decisions_change_seq_insert after insert on decisions for each row
      begin update decisions set change_seq = (select coalesce(max(change_seq), 0) + 1 from decisions) where id = new.id; end`.execute(db);
    // The WHEN keeps the trigger's own update from stamping again.
    await sql`create trigger decisions_change_seq_update after update on decisions for each row when new.change_seq is old.change_seq
      begin update decisions set change_seq = (select coalesce(max(change_seq), 0) + 1 from decisions) where id = new.id; end`.execute(db);
  }
  await db.schema.createIndex('decisions_change_seq').on('decisions').columns(['change_seq', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('decisions_change_seq').execute();
  if (isPostgres(db)) {
    await sql`drop trigger if exists decisions_change_seq on decisions`.execute(db);
    await sql`drop function if exists decisions_change_seq()`.execute(db);
  } else {
    await sql`drop trigger if exists decisions_change_seq_insert`.execute(db);
    await sql`drop trigger if exists decisions_change_seq_update`.execute(db);
  }
  await db.schema.alterTable('decisions').dropColumn('change_seq').execute();
}
