import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Database, DecisionsTable } from '../db/schema.js';
import { ENGINE_ACTOR } from './common.js';

/**
 * Standing decisions (DESIGN §2): every restriction in force, as a durable row every serving node
 * enforces. The enforcer writes them in the transaction of the enforcement action that causes
 * them and lifts them in the reinstatement's; nodes read them through the DecisionCache
 * (decision-cache.ts), never from the memory of the process that decided.
 *
 * A row is written once and changed once more at most (lifted); expiry needs no write.
 */

export type DecisionScope = DecisionsTable['scope'];
export type DecisionAction = DecisionsTable['action'];

export interface StandingDecision {
  id: string;
  scope: DecisionScope;
  subject: string;
  action: DecisionAction;
  reason: string;
  source: 'engine' | 'operator';
  actor: string;
  createdAt: number;
  /** null: until lifted. */
  expiresAt: number | null;
  liftedAt: number | null;
  liftedBy: string | null;
  liftReason: string | null;
  clusterId: string | null;
  campaignId: string | null;
  /** The enforcement action that caused it. */
  actionId: string | null;
  batchId: string | null;
  changedAt: number;
  /** An operator's trial: listed as what it "would" do, never enforced (absent: false). */
  shadow?: boolean;
}

/**
 * A new account that signs up on the device, or the hosting address, of an account findguard
 * suspended is denied for its first hour (from its creation): a farm keeps signing up on the
 * installations and servers its suspended accounts used, and each newcomer would otherwise get its
 * first calls in before the engine looks at it. The engine lists them with the suspension.
 */
export interface SignupHold {
  /** The suspended account that used the device or address. */
  accountId: string;
  scope: 'device' | 'ip';
  subject: string;
}

/** How long a new account is held from its creation (see SignupHold). */
export const SIGNUP_HOLD_MS = 3_600_000;

/** What the enforcer writes: one decision, tied to the enforcement action that causes it. */
export interface NewDecision {
  scope: DecisionScope;
  subject: string;
  action: DecisionAction;
  reason: string;
  actor: string;
  expiresAt: number | null;
  actionId: string;
  clusterId?: string | undefined;
  campaignId?: string | undefined;
  batchId?: string | undefined;
  shadow?: boolean | undefined;
}

/**
 * Inserts decisions in the caller's transaction. Ids derive from the enforcement action's
 * (`dec_<action id>`, `.<n>` for the holds it causes): no randomness drawn, so a simulation
 * replays exactly, and the migration's backfill used the same form.
 */
export async function insertDecisions(trx: Transaction<Database>, list: readonly NewDecision[], now: number): Promise<StandingDecision[]> {
  if (list.length === 0) return [];
  const perAction = new Map<string, number>();
  const rows: Array<Selectable<DecisionsTable>> = list.map((d) => {
    const n = perAction.get(d.actionId) ?? 0;
    perAction.set(d.actionId, n + 1);
    return {
      id: n === 0 ? `dec_${d.actionId}` : `dec_${d.actionId}.${n}`,
      scope: d.scope,
      subject: d.subject,
      action: d.action,
      reason: d.reason,
      source: d.actor === ENGINE_ACTOR ? 'engine' : 'operator',
      actor: d.actor,
      created_at: now,
      expires_at: d.expiresAt,
      lifted_at: null,
      lifted_by: null,
      lift_reason: null,
      cluster_id: d.clusterId ?? null,
      campaign_id: d.campaignId ?? null,
      action_id: d.actionId,
      batch_id: d.batchId ?? null,
      changed_at: now,
      shadow: d.shadow === true ? 1 : 0,
    };
  });
  // Bound the statement's parameters (18 per row; SQLite allows 32,766).
  for (let i = 0; i < rows.length; i += 1000) await trx.insertInto('decisions').values(rows.slice(i, i + 1000)).execute();
  return rows.map(toDecision);
}

/**
 * Lifts, in the caller's transaction, what stands against an account (its own decisions, an
 * operator's included) and what the given enforcement actions caused (the sign-up holds of a
 * suspension). Returns the rows it lifted, for the caller's audit entry and the notice after commit.
 */
export async function liftDecisions(
  trx: Transaction<Database>,
  target: { accountId: string; actionIds: readonly string[] },
  lift: { actor: string; reason: string },
  now: number,
): Promise<StandingDecision[]> {
  const open = await trx
    .selectFrom('decisions')
    .selectAll()
    .where('lifted_at', 'is', null)
    .where((eb) => {
      const own = eb.and([eb('scope', '=', 'account'), eb('subject', '=', target.accountId)]);
      return target.actionIds.length > 0 ? eb.or([own, eb('action_id', 'in', target.actionIds)]) : own;
    })
    .execute();
  if (open.length === 0) return [];
  const ids = open.map((r) => r.id);
  const lifted = new Set<string>();
  for (let i = 0; i < ids.length; i += 1000) {
    // An operator lifting one of these meanwhile keeps their lift: only rows this UPDATE changed are reported.
    const changed = await trx
      .updateTable('decisions')
      .set({ lifted_at: now, lifted_by: lift.actor, lift_reason: lift.reason, changed_at: now })
      .where('id', 'in', ids.slice(i, i + 1000))
      .where('lifted_at', 'is', null)
      .returning('id')
      .execute();
    for (const r of changed) lifted.add(r.id);
  }
  return open.filter((r) => lifted.has(r.id)).map((r) => toDecision({ ...r, lifted_at: now, lifted_by: lift.actor, lift_reason: lift.reason, changed_at: now }));
}

/** Every decision not lifted and not expired at `now`: a node's first read. */
export async function activeDecisions(db: Kysely<Database>, now: number): Promise<StandingDecision[]> {
  const rows = await db
    .selectFrom('decisions')
    .selectAll()
    .where('lifted_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  return rows.map(toDecision);
}

/**
 * Where a node's next incremental read starts, taken BEFORE the read it goes with: every row
 * whose change commits after it is in the next read. Opaque to the cache (change_seq, set by a
 * trigger: migration 20261224000000).
 * - PostgreSQL: the current snapshot. A row's change_seq is its writer's transaction id, assigned
 *   before the commit and not in commit order, so no number is a safe horizon; the snapshot says
 *   exactly which transactions it could not see, however long they waited on locks.
 * - SQLite: the largest change_seq committed (writers are serialised, values commit in order).
 */
export async function decisionsMark(db: Kysely<Database>): Promise<string> {
  if (isPostgres(db)) {
    const r = await sql<{ mark: string }>`select pg_current_snapshot()::text as mark`.execute(db);
    return r.rows[0]!.mark;
  }
  const r = await sql<{ mark: number | null }>`select max(change_seq) as mark from decisions`.execute(db);
  return String(r.rows[0]?.mark ?? 0);
}

/**
 * Every row changed by a transaction the mark's read could not see (rows it did see may come
 * again: applying one twice is harmless), in pages of `page` rows.
 */
export async function decisionsChangedSince(db: Kysely<Database>, mark: string, page: number): Promise<StandingDecision[]> {
  const out: StandingDecision[] = [];
  const postgres = isPostgres(db);
  let after: { seq: number; id: string } | undefined;
  for (;;) {
    let q = db.selectFrom('decisions').selectAll().select(sql<number>`change_seq`.as('change_seq'));
    q = postgres
      ? q
          .where(sql<boolean>`change_seq >= pg_snapshot_xmin(${mark}::pg_snapshot)::text::bigint`)
          .where(sql<boolean>`not pg_visible_in_snapshot(change_seq::text::xid8, ${mark}::pg_snapshot)`)
      : q.where(sql<boolean>`change_seq > ${Number(mark)}`);
    if (after) {
      const { seq, id } = after;
      q = q.where(sql<boolean>`(change_seq > ${seq} or (change_seq = ${seq} and id > ${id}))`);
    }
    const rows = await q.orderBy(sql`change_seq`).orderBy('id').limit(page).execute();
    for (const r of rows) out.push(toDecision(r));
    if (rows.length < page) return out;
    const last = rows[rows.length - 1]!;
    after = { seq: Number(last.change_seq), id: last.id };
  }
}

/** An account's decisions, newest first (for `findguard accounts show` and tests). */
export async function decisionsFor(db: Kysely<Database>, scope: DecisionScope, subject: string): Promise<StandingDecision[]> {
  const rows = await db.selectFrom('decisions').selectAll().where('scope', '=', scope).where('subject', '=', subject).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
  return rows.map(toDecision);
}

export function toDecision(r: Selectable<DecisionsTable>): StandingDecision {
  return {
    id: r.id,
    scope: r.scope,
    subject: r.subject,
    action: r.action,
    reason: r.reason,
    source: r.source,
    actor: r.actor,
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    liftedAt: r.lifted_at === null ? null : Number(r.lifted_at),
    liftedBy: r.lifted_by,
    liftReason: r.lift_reason,
    clusterId: r.cluster_id,
    campaignId: r.campaign_id,
    actionId: r.action_id,
    batchId: r.batch_id,
    changedAt: Number(r.changed_at),
    ...(Number(r.shadow) === 1 ? { shadow: true } : {}),
  };
}
