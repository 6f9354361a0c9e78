import type { Kysely } from 'kysely';

/** The two tables as this migration finds them (not the current schema, which may move on). */
interface Tables {
  audit_log: { action: string; actor_id: string | null; details: string };
  operator_tokens: { id: string; created_by: string | null };
}

/**
 * Who made each operator API token: the operator's own id, another operator's (an admin making one
 * for a service account or a colleague), or `cli`. A token another operator made cannot give the
 * approval of the two-person rule (http/admin/incidents.ts): otherwise an admin who made a token for
 * a colleague approved a report twice, once as that colleague. Tokens made before this migration
 * are read from the audit trail's `token.create` entries; one not found there stays null (unknown,
 * so it approves nothing).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('operator_tokens').addColumn('created_by', 'text').execute();
  const t = db as unknown as Kysely<Tables>;
  const rows = await t.selectFrom('audit_log').select(['actor_id', 'details']).where('action', '=', 'token.create').execute();
  for (const r of rows) {
    if (r.actor_id === null) continue;
    let tokenId: unknown;
    try {
      tokenId = (JSON.parse(r.details) as { tokenId?: unknown }).tokenId;
    } catch {
      continue;
    }
    if (typeof tokenId !== 'string') continue;
    await t.updateTable('operator_tokens').set({ created_by: r.actor_id }).where('id', '=', tokenId).where('created_by', 'is', null).execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('operator_tokens').dropColumn('created_by').execute();
}
