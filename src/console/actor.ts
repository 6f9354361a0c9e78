import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { recordAudit } from '../incidents/audit.js';
import type { JsonValue } from '../incidents/index.js';
import type { Random } from '../util/random.js';

/** The operator acting through the console or the admin API, as the HTTP edge authenticated them. */
export interface Actor {
  id: string;
  name: string;
  role: 'viewer' | 'analyst' | 'admin';
  via: string;
  /** The client address, as findguard reads it. */
  from: string | null;
  /** 'console' for a cookie session, 'api' for an operator API token. */
  tool: 'console' | 'api';
}

export interface ConsoleAuditEntry {
  action: string;
  /** e.g. `decision:<id>`, `batch:<id>`, `account:<id>`. */
  subject: string;
  reason?: string | undefined;
  before?: JsonValue | undefined;
  after?: JsonValue | undefined;
  batchId?: string | undefined;
}

/**
 * Writes one audit entry for an operator's change, in the caller's transaction so neither exists
 * without the other (the hash-chained trail is src/incidents/audit.ts's).
 */
export async function auditChange(db: Kysely<Database>, actor: Actor, entry: ConsoleAuditEntry, now: number, random: Random): Promise<void> {
  await recordAudit(
    db,
    {
      actor: { id: actor.id, name: actor.name, role: actor.role, via: actor.via },
      from: actor.from,
      tool: actor.tool,
      action: entry.action,
      subject: entry.subject,
      ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
      ...(entry.before !== undefined ? { before: entry.before } : {}),
      ...(entry.after !== undefined ? { after: entry.after } : {}),
      ...(entry.batchId !== undefined ? { batchId: entry.batchId } : {}),
    },
    now,
    random,
  );
}
