import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, DecisionsTable } from '../db/schema.js';
import type { Random } from '../util/random.js';
import { newId } from './common.js';
import { toDecision, type DecisionAction, type DecisionScope, type StandingDecision } from './decisions.js';

/**
 * Decisions an operator makes by hand (the console's "throttle this ASN for 4 h"): the same
 * durable rows the engine writes, so every node enforces them through its DecisionCache, with
 * no enforcement action behind them. The caller audits in the same transaction and tells the
 * cache after the commit.
 */

export interface OperatorDecision {
  scope: DecisionScope;
  subject: string;
  action: Exclude<DecisionAction, 'hold-signups'>;
  reason: string;
  /** The operator's name. */
  actor: string;
  expiresAt: number | null;
  batchId?: string | undefined;
  shadow?: boolean | undefined;
}

export async function insertOperatorDecisions(trx: Transaction<Database>, list: readonly OperatorDecision[], now: number, random: Random): Promise<StandingDecision[]> {
  const rows: Array<Selectable<DecisionsTable>> = list.map((d) => ({
    id: newId('dec', now, random),
    scope: d.scope,
    subject: d.subject,
    action: d.action,
    reason: d.reason,
    source: 'operator',
    actor: d.actor,
    created_at: now,
    expires_at: d.expiresAt,
    lifted_at: null,
    lifted_by: null,
    lift_reason: null,
    cluster_id: null,
    campaign_id: null,
    action_id: null,
    batch_id: d.batchId ?? null,
    changed_at: now,
    shadow: d.shadow === true ? 1 : 0,
  }));
  for (let i = 0; i < rows.length; i += 1000) await trx.insertInto('decisions').values(rows.slice(i, i + 1000)).execute();
  return rows.map(toDecision);
}

/**
 * Lifts the given rows that are still standing; returns the rows this call lifted (for the audit
 * and the cache). What counts is what the UPDATE changed, not what the caller read: a row another
 * transaction lifted after that read (two operators at once, on PostgreSQL) is left out, so its
 * lift is not reported, audited or announced a second time.
 */
export async function liftDecisionRows(
  trx: Transaction<Database>,
  open: ReadonlyArray<Selectable<DecisionsTable>>,
  lift: { actor: string; reason: string },
  now: number,
): Promise<StandingDecision[]> {
  const ids = open.filter((r) => r.lifted_at === null).map((r) => r.id);
  const lifted = new Set<string>();
  for (let i = 0; i < ids.length; i += 1000) {
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

export async function decisionRow(db: Kysely<Database>, id: string): Promise<Selectable<DecisionsTable> | undefined> {
  return db.selectFrom('decisions').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function batchRows(db: Kysely<Database>, batchId: string): Promise<Array<Selectable<DecisionsTable>>> {
  return db.selectFrom('decisions').selectAll().where('batch_id', '=', batchId).orderBy('id').execute();
}
