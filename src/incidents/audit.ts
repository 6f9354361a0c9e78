import { sql, type Kysely } from 'kysely';
import { auditEntryHash, GENESIS_HASH, type ChainedAuditFields } from '../db/audit-hash.js';
import type { AuditLogTable, Database } from '../db/schema.js';
import { transaction } from '../db/transaction.js';
import type { Role } from '../operators/roles.js';
import type { Random } from '../util/random.js';
import { iso, newId, parseJson, type JsonValue } from './common.js';

/** Who acted. `system`: the CLI on the server itself, or findguard's own jobs. */
export interface AuditActor {
  id: string;
  name: string;
  role: Role | 'system';
  /** How they authenticated: password+totp, oidc, token, cli. */
  via: string;
}

/** `engine`: findguard's own jobs (the abuse engine opening an incident). */
export type AuditTool = 'console' | 'api' | 'cli' | 'engine';

/** What an operator did, as recordAudit takes it. */
export interface NewAuditEntry {
  actor: AuditActor;
  /** The client address; null from the CLI. */
  from: string | null;
  tool: AuditTool;
  action: string;
  /** What was acted on, e.g. `account:<id>`, `decision:<id>`, `operator:<id>`. */
  subject: string;
  reason?: string;
  before?: JsonValue;
  after?: JsonValue;
  batchId?: string;
  /** Anything else worth keeping (action ids, what a reinstatement reversed). */
  details?: JsonValue;
}

/** One entry of the trail as read back. */
export interface AuditEntry {
  seq: number;
  id: string;
  at: string;
  actor: AuditActor;
  from: string | null;
  tool: AuditTool | null;
  action: string;
  subject: string;
  reason: string | null;
  before: JsonValue | null;
  after: JsonValue | null;
  batchId: string | null;
  details: JsonValue;
  hash: string;
}

/**
 * Appends an entry to the hash-chained audit trail; pass the transaction of the action itself so
 * neither exists without the other. The first statement moves the chain's head (audit_head, one
 * row): on PostgreSQL that row lock, on SQLite the database's write lock, is held until the
 * transaction ends, so appends from any number of nodes take their turn and never fork the chain.
 */
export async function recordAudit(db: Kysely<Database>, entry: NewAuditEntry, now: number, random: Random): Promise<string> {
  // Inside any caller's transaction (ours or a plain Kysely one) the append is part of it; alone, it gets its own.
  return db.isTransaction ? append(db, entry, now, random) : transaction(db, (tx) => append(tx, entry, now, random));
}

async function append(tx: Kysely<Database>, entry: NewAuditEntry, now: number, random: Random): Promise<string> {
  const head = await tx
    .updateTable('audit_head')
    .set({ seq: sql`seq + 1` })
    .where('id', '=', 1)
    .returning(['seq', 'hash'])
    .executeTakeFirstOrThrow();
  const fields: ChainedAuditFields = {
    seq: Number(head.seq),
    id: newId('aud', now, random),
    at: now,
    actor: entry.actor.name,
    actor_id: entry.actor.id,
    actor_role: entry.actor.role,
    via: entry.actor.via,
    from_address: entry.from,
    tool: entry.tool,
    action: entry.action,
    target: entry.subject,
    reason: entry.reason ?? null,
    before: entry.before === undefined ? null : JSON.stringify(entry.before),
    after: entry.after === undefined ? null : JSON.stringify(entry.after),
    batch_id: entry.batchId ?? null,
    details: JSON.stringify(entry.details ?? {}),
  };
  const hash = auditEntryHash(head.hash, fields);
  await tx.insertInto('audit_log').values({ ...fields, prev_hash: head.hash, hash }).execute();
  await tx.updateTable('audit_head').set({ hash }).where('id', '=', 1).execute();
  return fields.id;
}

function toEntry(r: AuditLogTable): AuditEntry {
  return {
    seq: Number(r.seq),
    id: r.id,
    at: iso(Number(r.at)),
    actor: { id: r.actor_id ?? r.actor, name: r.actor, role: (r.actor_role ?? 'system') as AuditActor['role'], via: r.via ?? 'unknown' },
    from: r.from_address,
    tool: r.tool as AuditTool | null,
    action: r.action,
    subject: r.target,
    reason: r.reason,
    before: r.before === null ? null : parseJson(r.before),
    after: r.after === null ? null : parseJson(r.after),
    batchId: r.batch_id,
    details: parseJson(r.details),
    hash: r.hash,
  };
}

/** The entries about one subject, newest first. */
export async function auditFor(db: Kysely<Database>, subject: string, limit = 100): Promise<AuditEntry[]> {
  return listAudit(db, { subject, limit });
}

export interface AuditQuery {
  subject?: string;
  actorId?: string;
  action?: string;
  /** Entries with a seq below this one (the cursor of the page before). */
  before?: number;
  limit: number;
}

/** Entries newest first, filtered; page on with `before` = the last entry's seq. */
export async function listAudit(db: Kysely<Database>, q: AuditQuery): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_log').selectAll();
  if (q.subject !== undefined) query = query.where('target', '=', q.subject);
  if (q.actorId !== undefined) query = query.where('actor_id', '=', q.actorId);
  if (q.action !== undefined) query = query.where('action', '=', q.action);
  if (q.before !== undefined) query = query.where('seq', '<', q.before);
  const rows = await query.orderBy('seq', 'desc').limit(Math.max(1, Math.min(q.limit, 1000))).execute();
  return rows.map(toEntry);
}

export type AuditVerdict =
  | { ok: true; entries: number; headHash: string }
  | { ok: false; entries: number; seq: number; id: string | null; problem: 'gap' | 'prev_hash' | 'hash' | 'head' };

const VERIFY_PAGE = 1000;

/**
 * Walks the whole chain in order: each seq follows the one before (a deleted entry leaves a gap),
 * each prev_hash is the hash before it, each hash matches the entry's fields (an edit changes
 * it), and the head names the last entry (a deleted tail). The head hash it returns can be noted
 * somewhere else: a rewrite of the whole chain from some entry on changes it.
 */
export async function verifyAudit(db: Kysely<Database>): Promise<AuditVerdict> {
  let prev = GENESIS_HASH;
  let expected = 1;
  let after = 0;
  for (;;) {
    const rows = await db.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq').limit(VERIFY_PAGE).execute();
    for (const r of rows) {
      const seq = Number(r.seq);
      if (seq !== expected) return { ok: false, entries: expected - 1, seq: expected, id: null, problem: 'gap' };
      if (r.prev_hash !== prev) return { ok: false, entries: expected - 1, seq, id: r.id, problem: 'prev_hash' };
      if (auditEntryHash(prev, r) !== r.hash) return { ok: false, entries: expected - 1, seq, id: r.id, problem: 'hash' };
      prev = r.hash;
      expected++;
    }
    if (rows.length < VERIFY_PAGE) break;
    after = expected - 1;
  }
  const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  if (!head || Number(head.seq) !== expected - 1 || head.hash !== prev) {
    return { ok: false, entries: expected - 1, seq: expected, id: null, problem: 'head' };
  }
  return { ok: true, entries: expected - 1, headHash: prev };
}
