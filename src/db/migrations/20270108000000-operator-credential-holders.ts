import type { Kysely } from 'kysely';

/** The tables as this migration finds them (not the current schema, which may move on). */
interface Tables {
  audit_log: { seq: number; action: string; actor_id: string | null; target: string };
  operators: { id: string; password_set_by: string | null; totp_set_by: string | null };
}

/**
 * Who, other than the operator, was handed each half of a local operator's sign-in: the operator
 * who added them through the admin API (shown the password and the TOTP secret) and whoever reset
 * their TOTP since. Null is the operator's own, or the server CLI's (whoever runs it holds the
 * database already). One other operator holding both halves can sign in as this one, so such an
 * operator cannot give an approval of the two-person rule (operators/principal.ts).
 * Operators added before this migration are read from the audit trail's `operator.add` and
 * `operator.reset-totp` entries, in order.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('operators').addColumn('password_set_by', 'text').execute();
  await db.schema.alterTable('operators').addColumn('totp_set_by', 'text').execute();
  const t = db as unknown as Kysely<Tables>;
  const rows = await t.selectFrom('audit_log').select(['action', 'actor_id', 'target']).where('action', 'in', ['operator.add', 'operator.reset-totp']).orderBy('seq').execute();
  for (const r of rows) {
    if (!r.target.startsWith('operator:')) continue;
    const id = r.target.slice('operator:'.length);
    const by = r.actor_id === null || r.actor_id === 'cli' || r.actor_id === id ? null : r.actor_id;
    const set = r.action === 'operator.add' ? { password_set_by: by, totp_set_by: by } : { totp_set_by: by };
    await t.updateTable('operators').set(set).where('id', '=', id).execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('operators').dropColumn('totp_set_by').execute();
  await db.schema.alterTable('operators').dropColumn('password_set_by').execute();
}
