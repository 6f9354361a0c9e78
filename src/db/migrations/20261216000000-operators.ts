import { sql, type Kysely } from 'kysely';
import { auditEntryHash, GENESIS_HASH } from '../audit-hash.js';
import { isPostgres } from '../dialect.js';

/**
 * Console operators, their sessions and API tokens, sign-in throttling, and the audit log's hash
 * chain (src/operators, src/incidents/audit.ts). Rows the audit log already holds are chained in
 * the order they were written; the fields they never had (role, address, tool…) stay null.
 * Afterwards the database itself refuses UPDATE and DELETE on audit_log (a trigger on both
 * dialects), so only someone who can drop the trigger can edit it, and the chain shows that.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('operators')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('totp_secret', 'text')
    .addColumn('totp_last_step', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('oidc_subject', 'text', (c) => c.unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('operator_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('operator_id', 'text', (c) => c.notNull().references('operators.id'))
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('via', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('operator_sessions_operator').on('operator_sessions').column('operator_id').execute();

  await db.schema
    .createTable('operator_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('operator_id', 'text', (c) => c.notNull().references('operators.id'))
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('operator_tokens_operator').on('operator_tokens').column('operator_id').execute();

  await db.schema
    .createTable('signin_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('blocked_until', 'bigint', (c) => c.notNull())
    .addColumn('last_failure_at', 'bigint', (c) => c.notNull())
    .execute();

  for (const column of ['actor_id', 'actor_role', 'via', 'from_address', 'tool', 'reason', 'before', 'after', 'batch_id', 'prev_hash', 'hash']) {
    await db.schema.alterTable('audit_log').addColumn(column, 'text').execute();
  }
  await db.schema.alterTable('audit_log').addColumn('seq', 'bigint').execute();
  await db.schema
    .createTable('audit_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();

  const rows = await sql<{ id: string; at: number; actor: string; action: string; target: string; details: string }>`
    select id, at, actor, action, target, details from audit_log order by at, id`.execute(db);
  let prev = GENESIS_HASH;
  let seq = 0;
  for (const r of rows.rows) {
    seq++;
    const hash = auditEntryHash(prev, {
      seq, id: r.id, at: Number(r.at), actor: r.actor, actor_id: null, actor_role: null, via: null, from_address: null,
      tool: null, action: r.action, target: r.target, reason: null, before: null, after: null, batch_id: null, details: r.details,
    });
    await sql`update audit_log set seq = ${seq}, prev_hash = ${prev}, hash = ${hash} where id = ${r.id}`.execute(db);
    prev = hash;
  }
  await sql`insert into audit_head (id, seq, hash) values (1, ${seq}, ${prev})`.execute(db);
  await db.schema.createIndex('audit_log_seq').on('audit_log').column('seq').unique().execute();
  await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor_id', 'at']).execute();

  if (isPostgres(db)) {
    await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
      begin raise exception 'audit_log is append-only'; end $$`.execute(db);
    await sql`create trigger audit_log_append_only before update or delete on audit_log
      for each row execute function audit_log_append_only()`.execute(db);
  } else {
    await sql`create trigger audit_log_no_update before update on audit_log begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
    await sql`create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) {
    await sql`drop trigger if exists audit_log_append_only on audit_log`.execute(db);
    await sql`drop function if exists audit_log_append_only()`.execute(db);
  } else {
    await sql`drop trigger if exists audit_log_no_update`.execute(db);
    await sql`drop trigger if exists audit_log_no_delete`.execute(db);
  }
  await db.schema.dropIndex('audit_log_actor').execute();
  await db.schema.dropIndex('audit_log_seq').execute();
  await db.schema.dropTable('audit_head').execute();
  for (const column of ['seq', 'actor_id', 'actor_role', 'via', 'from_address', 'tool', 'reason', 'before', 'after', 'batch_id', 'prev_hash', 'hash']) {
    await db.schema.alterTable('audit_log').dropColumn(column).execute();
  }
  await db.schema.dropTable('signin_throttle').execute();
  await db.schema.dropTable('operator_tokens').execute();
  await db.schema.dropTable('operator_sessions').execute();
  await db.schema.dropTable('operators').execute();
}
