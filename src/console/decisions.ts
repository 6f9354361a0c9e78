import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog } from '../db/transaction.js';
import { AppError } from '../errors.js';
import { toDecision, type StandingDecision } from '../incidents/decisions.js';
import { batchRows, decisionRow, insertOperatorDecisions, liftDecisionRows, type OperatorDecision } from '../incidents/operator-decisions.js';
import type { Clock } from '../util/clock.js';
import { newId } from '../incidents/common.js';
import type { Random } from '../util/random.js';
import { auditChange, type Actor } from './actor.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { canonicalSubject } from './subjects.js';

/**
 * Decisions, CrowdSec-style: every standing decision, whoever made it; an operator adds one by
 * hand, lifts one, or acts in bulk under a batch id that is undone as one. Each change and its
 * audit entry commit together; the nodes hear of it through the decision cache after the commit.
 */

export type DecisionStatus = 'active' | 'would' | 'expired' | 'lifted';
export interface DecisionView extends StandingDecision {
  /** `would`: a shadow decision in force (an operator's trial, or the engine's in shadow mode), listed and never enforced. */
  status: DecisionStatus;
}

export interface DecisionInput {
  scope: StandingDecision['scope'];
  subject: string;
  action: OperatorDecision['action'];
  reason: string;
  /** Omitted: until lifted. */
  durationSeconds?: number | undefined;
  /** A trial: listed as what it would do, never enforced. */
  shadow?: boolean | undefined;
}

export interface DecisionFilter {
  scope?: StandingDecision['scope'] | undefined;
  source?: StandingDecision['source'] | undefined;
  /** true: in force (and trials in force); false: expired or lifted. */
  active?: boolean | undefined;
  /** true: only "would" decisions (the engine's in shadow mode, operators' trials); false: only enforced ones. */
  shadow?: boolean | undefined;
  subject?: string | undefined;
  batchId?: string | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

export interface DecisionsDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  /** The decision cache of this process: applied here at once, announced to the other nodes. */
  cache: { changed(rows: readonly StandingDecision[]): void };
  log?: CommitLog;
}

export const MAX_DURATION_S = 365 * 86_400;
export const MAX_BULK = 1000;
const MAX_REASON = 1000;

export class ConsoleDecisions {
  constructor(private readonly deps: DecisionsDeps) {}

  async list(f: DecisionFilter = {}): Promise<{ items: DecisionView[]; nextCursor: string | null }> {
    const now = this.deps.clock.now();
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 500);
    let q = this.deps.db.selectFrom('decisions').selectAll();
    if (f.scope) q = q.where('scope', '=', f.scope);
    if (f.source) q = q.where('source', '=', f.source);
    if (f.subject !== undefined && f.scope) q = q.where('subject', '=', canonicalSubject(f.scope, f.subject));
    if (f.batchId) q = q.where('batch_id', '=', f.batchId);
    if (f.shadow !== undefined) q = q.where('shadow', '=', f.shadow ? 1 : 0);
    if (f.active === true) q = q.where('lifted_at', 'is', null).where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
    if (f.active === false) q = q.where((eb) => eb.or([eb('lifted_at', 'is not', null), eb('expires_at', '<=', now)]));
    const after = f.cursor ? decodeCursor(f.cursor) : undefined;
    if (after) q = q.where((eb) => eb.or([eb('created_at', '<', after.at), eb.and([eb('created_at', '=', after.at), eb('id', '<', after.id)])]));
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map((r) => view(toDecision(r), now));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
  }

  async add(actor: Actor, input: DecisionInput): Promise<DecisionView> {
    const { decisions } = await this.write(actor, [input], input.reason, undefined);
    return decisions[0]!;
  }

  /** Several decisions under one batch id, so they can be undone as one. */
  async bulk(actor: Actor, items: readonly Omit<DecisionInput, 'reason'>[], reason: string): Promise<{ batchId: string; decisions: DecisionView[] }> {
    if (items.length === 0 || items.length > MAX_BULK) throw new AppError('invalid_request', `a bulk action holds 1 to ${MAX_BULK} decisions`);
    const batchId = newId('bat', this.deps.clock.now(), this.deps.random);
    const { decisions } = await this.write(actor, items.map((i) => ({ ...i, reason })), reason, batchId);
    return { batchId, decisions };
  }

  async lift(actor: Actor, id: string, reason: string): Promise<DecisionView> {
    checkReason(reason);
    const now = this.deps.clock.now();
    return transaction(
      this.deps.db,
      async (tx) => {
        const row = await decisionRow(tx, id);
        if (!row) throw new AppError('not_found', 'no such decision');
        if (row.lifted_at !== null) throw new AppError('conflict', 'the decision was already lifted');
        if (row.scope === 'account' && row.action === 'suspend' && Number(row.shadow) !== 1) {
          // A suspension is also the account's status and an enforcement action: the reinstatement undoes all three.
          throw new AppError('conflict', 'a suspension is lifted by reinstating the account (POST /admin/v1/accounts/{id}/reinstate)');
        }
        const [lifted] = await liftDecisionRows(tx, [row], { actor: actor.name, reason }, now);
        // Read without a lock: another operator's lift may have committed since. Theirs stands, and is the only one audited.
        if (!lifted) throw new AppError('conflict', 'the decision was already lifted');
        await auditChange(tx, actor, { action: 'decision.lift', subject: `decision:${id}`, reason, before: { status: view(toDecision(row), now).status }, after: { status: 'lifted' } }, now, this.deps.random);
        tx.onCommit(() => this.deps.cache.changed([lifted]));
        return view(lifted, now);
      },
      this.deps.log,
    );
  }

  /** Lifts every decision of the batch still standing, as one change. */
  async undoBatch(actor: Actor, batchId: string, reason: string): Promise<{ batchId: string; lifted: number }> {
    checkReason(reason);
    const now = this.deps.clock.now();
    return transaction(
      this.deps.db,
      async (tx) => {
        const rows = await batchRows(tx, batchId);
        if (rows.length === 0) throw new AppError('not_found', 'no such batch');
        const lifted = await liftDecisionRows(tx, rows, { actor: actor.name, reason }, now);
        await auditChange(tx, actor, { action: 'batch.undo', subject: `batch:${batchId}`, reason, batchId, after: { lifted: lifted.map((d) => d.id) } }, now, this.deps.random);
        if (lifted.length > 0) tx.onCommit(() => this.deps.cache.changed(lifted));
        return { batchId, lifted: lifted.length };
      },
      this.deps.log,
    );
  }

  private async write(actor: Actor, inputs: readonly DecisionInput[], reason: string, batchId: string | undefined): Promise<{ decisions: DecisionView[] }> {
    checkReason(reason);
    const now = this.deps.clock.now();
    const list = inputs.map((i): OperatorDecision => {
      if (i.scope === 'account' && i.action === 'suspend') {
        throw new AppError('invalid_request', 'an account is suspended by the engine or `findguard accounts suspend`; throttle or challenge it here');
      }
      if (i.durationSeconds !== undefined && (!Number.isInteger(i.durationSeconds) || i.durationSeconds < 1 || i.durationSeconds > MAX_DURATION_S)) {
        throw new AppError('invalid_request', `durationSeconds must be 1 to ${MAX_DURATION_S}`);
      }
      return {
        scope: i.scope,
        subject: canonicalSubject(i.scope, i.subject),
        action: i.action,
        reason: i.reason,
        actor: actor.name,
        expiresAt: i.durationSeconds === undefined ? null : now + i.durationSeconds * 1000,
        batchId,
        shadow: i.shadow === true,
      };
    });
    return transaction(
      this.deps.db,
      async (tx) => {
        const accounts = [...new Set(list.filter((d) => d.scope === 'account').map((d) => d.subject))];
        if (accounts.length > 0) {
          const known = await tx.selectFrom('accounts').select('id').where('id', 'in', accounts).execute();
          if (known.length !== accounts.length) throw new AppError('not_found', 'no such account');
        }
        const rows = await insertOperatorDecisions(tx, list, now, this.deps.random);
        if (batchId !== undefined) {
          await auditChange(tx, actor, { action: 'decision.bulk', subject: `batch:${batchId}`, reason, batchId, after: rows.map(summary) }, now, this.deps.random);
        } else {
          for (const d of rows) await auditChange(tx, actor, { action: 'decision.add', subject: `decision:${d.id}`, reason, after: summary(d) }, now, this.deps.random);
        }
        tx.onCommit(() => this.deps.cache.changed(rows));
        return { decisions: rows.map((d) => view(d, now)) };
      },
      this.deps.log,
    );
  }
}

function summary(d: StandingDecision): { id: string; scope: string; subject: string; action: string; expiresAt: number | null; shadow: boolean } {
  return { id: d.id, scope: d.scope, subject: d.subject, action: d.action, expiresAt: d.expiresAt, shadow: d.shadow === true };
}

export function view(d: StandingDecision, now: number): DecisionView {
  const status: DecisionStatus = d.liftedAt !== null ? 'lifted' : d.expiresAt !== null && d.expiresAt <= now ? 'expired' : d.shadow === true ? 'would' : 'active';
  return { ...d, shadow: d.shadow === true, status };
}

function checkReason(reason: string): void {
  if (reason.trim().length === 0 || reason.length > MAX_REASON) throw new AppError('invalid_request', `reason must be 1 to ${MAX_REASON} characters`);
}
