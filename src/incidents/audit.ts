import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Random } from '../util/random.js';
import { iso, newId, parseJson, type JsonValue } from './common.js';

/** One operator action, for the audit trail. */
export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  /** What was acted on, e.g. `account:<id>` or `campaign:<id>`. */
  target: string;
  details: JsonValue;
}

/** Records an operator action; pass the transaction of the action itself so neither exists without the other. */
export async function recordAudit(
  db: Kysely<Database>,
  entry: { actor: string; action: string; target: string; details: JsonValue },
  now: number,
  random: Random,
): Promise<string> {
  const id = newId('aud', now, random);
  await db
    .insertInto('audit_log')
    .values({ id, at: now, actor: entry.actor, action: entry.action, target: entry.target, details: JSON.stringify(entry.details) })
    .execute();
  return id;
}

export async function auditFor(db: Kysely<Database>, target: string, limit = 100): Promise<AuditEntry[]> {
  const rows = await db.selectFrom('audit_log').selectAll().where('target', '=', target).orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({ id: r.id, at: iso(Number(r.at)), actor: r.actor, action: r.action, target: r.target, details: parseJson(r.details) }));
}
