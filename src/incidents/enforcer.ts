import { PostgresAdapter, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog, type Tx } from '../db/transaction.js';
import type { DirectoryService } from '../directory/service.js';
import { openSuspensions } from '../directory/accounts.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { recordAudit, type AuditActor, type AuditTool } from './audit.js';
import { ENGINE_ACTOR, iso, isOperatorName, newId, type JsonValue } from './common.js';
import { insertDecisions, liftDecisions, type NewDecision, type SignupHold, type StandingDecision } from './decisions.js';
import { actionsFor, activeRestrictions, type ActiveRestrictions, type EnforcementAction, type EnforcementKind } from './enforcement-reads.js';
import { enqueueWebhook } from './outbox.js';

export type { ActiveRestrictions, EnforcementAction, EnforcementKind } from './enforcement-reads.js';

/**
 * What findguard does to an account it believes is abusing discovery, and the undoing of it.
 * Every action is recorded with its evidence in the same transaction as its webhook, the
 * account's status (DirectoryService.setFindguardStatusIn, which also refreshes discoverability)
 * the standing decisions every serving node enforces (decisions.ts) and, for an operator, the
 * audit entry: all of it commits, or none. The directory's caches, the decision cache and the
 * webhook deliverer hear of it through the transaction's onCommit: after the commit, never on a
 * rollback.
 */

export interface ActionOptions {
  /** 'engine' or an operator's name. */
  actor: string;
  reason: string;
  evidence: JsonValue;
  clusterId?: string;
  campaignId?: string;
  /** suspend(): the devices and hosting addresses whose new sign-ups to hold, by the suspended account that used them. */
  holds?: readonly SignupHold[];
  /** Who acted, from where and with what, for the audit trail; without it an operator's action is recorded as the CLI's. */
  by?: { actor: AuditActor; from: string | null; tool: AuditTool; batchId?: string };
  /**
   * throttle()/challenge(): when the caller decided, on the caller's clock (the engine's: the time
   * of the events it evaluated, Decision.at). The restriction then runs its full length
   * (`until - decidedAt`) from the enforcer's clock. Without it a worker catching up a backlog
   * (events hours old) had its throttles cut short by the lag, and past their length recorded as
   * unchanged, while the engine counted them applied (found in review:
   * test/review/engine-throttle-event-time).
   */
  decidedAt?: number;
  /**
   * The engine's: accounts reinstated at or after this time (the enforcer's clock: now less the
   * policy's reinstateGrace) are left alone, as the engine leaves them once it has heard of the
   * reinstatement. Checked under the account's row lock in the action's own transaction: an engine
   * decision made before a reinstatement and recorded after it no longer undoes the operator's
   * judgement (test/review/reinstate-undone-by-inflight-decision).
   */
  sparedIfReinstatedSince?: number;
}

export interface SuspendResult {
  suspended: string[];
  /** Already suspended by findguard: nothing new recorded. */
  alreadySuspended: string[];
  /** Not mirrored (never, or erased since). */
  unknown: string[];
  /** Reinstated since opts.sparedIfReinstatedSince: left alone. */
  spared: string[];
}

export interface RestrictResult {
  recorded: string[];
  /** A restriction of this kind already runs at least as long. */
  unchanged: string[];
  unknown: string[];
  /** Reinstated since opts.sparedIfReinstatedSince: left alone. */
  spared: string[];
}

export interface ReinstateResult {
  /** false when findguard had not suspended the account: nothing was recorded or sent. */
  reinstated: boolean;
  actionId: string | null;
  /** Actions lifted: the suspension and any throttle or challenge still running. */
  reversed: string[];
}

export interface EnforcerDeps {
  db: Kysely<Database>;
  directory: Pick<DirectoryService, 'setFindguardStatusIn' | 'changed'>;
  clock: Clock;
  random: Random;
  /** Told after a commit that added webhooks, so a deliverer in this process sends them at once. */
  onEnqueued?: () => void;
  /** Told after a commit what decisions it wrote or lifted (DecisionCache.changed). */
  decisions?: { changed(rows: readonly StandingDecision[]): void };
  /** Where a failing after-commit notice is reported. */
  log?: CommitLog;
}

const CHUNK = 500;
const MAX_REASON = 1000;

export class Enforcer {
  private readonly postgres: boolean;

  constructor(private readonly deps: EnforcerDeps) {
    this.postgres = deps.db.getExecutor().adapter instanceof PostgresAdapter;
  }

  /** Suspends the accounts (idempotent per account) and sends `account.suspended` for each newly suspended one. */
  async suspend(accountIds: readonly string[], opts: ActionOptions): Promise<SuspendResult> {
    checkOptions(opts);
    const out: SuspendResult = { suspended: [], alreadySuspended: [], unknown: [], spared: [] };
    const holdsOf = groupHolds(opts.holds);
    for (const chunk of chunks(sortedUnique(accountIds))) {
      const now = this.deps.clock.now();
      const part = await this.transaction(async (trx) => {
        const apply: string[] = [];
        const decided: StandingDecision[] = [];
        const r: SuspendResult = { suspended: [], alreadySuspended: [], unknown: [], spared: [] };
        const status = await this.lockAccounts(trx, chunk);
        const open = await openSuspensions(trx, chunk);
        const spared = await this.reinstatedSince(trx, chunk, opts);
        for (const id of chunk) {
          const fg = status.get(id);
          if (fg === undefined) {
            r.unknown.push(id);
          } else if (spared.has(id)) {
            r.spared.push(id);
          } else if (open.has(id) || fg === 'suspended') {
            r.alreadySuspended.push(id);
            // Recorded by a version that applied the status apart from the action: apply it now.
            if (fg !== 'suspended' && (await this.deps.directory.setFindguardStatusIn(trx, id, 'suspended'))) apply.push(id);
          } else {
            const actionId = await this.insert(trx, 'suspend', id, opts, now, null);
            const holds = (holdsOf.get(id) ?? []).map((h): NewDecision => ({ ...decisionOf('hold-signups', actionId, opts, null), scope: h.scope, subject: h.subject }));
            decided.push(...(await insertDecisions(trx, [{ ...decisionOf('suspend', actionId, opts, null), scope: 'account', subject: id }, ...holds], now)));
            await enqueueWebhook(
              trx,
              'account.suspended',
              { accountId: id, actionId, at: iso(now), actor: opts.actor, reason: opts.reason, clusterId: opts.clusterId ?? null, campaignId: opts.campaignId ?? null },
              now,
              this.deps.random,
            );
            await this.audit(trx, opts, 'account.suspend', id, { actionId, reason: opts.reason }, now);
            // The status in the same transaction: suspended exactly when the action is recorded.
            await this.deps.directory.setFindguardStatusIn(trx, id, 'suspended');
            r.suspended.push(id);
            apply.push(id);
          }
        }
        this.afterCommit(trx, { enqueued: r.suspended.length > 0, accounts: apply, decisions: decided });
        return r;
      });
      out.suspended.push(...part.suspended);
      out.alreadySuspended.push(...part.alreadySuspended);
      out.unknown.push(...part.unknown);
      out.spared.push(...part.spared);
    }
    return out;
  }

  /**
   * Lifts findguard's suspension, and any throttle or challenge still running (the account's
   * decisions, an operator's included, as README's reinstatement says): an account an operator
   * judged organic should not keep paying for the engine's mistake. The audit entry lists the
   * decisions lifted. Sends `account.reinstated`. An account findguard had not suspended is left alone.
   */
  async reinstate(accountId: string, opts: { actor: string; reason: string; evidence?: JsonValue; by?: ActionOptions['by'] }): Promise<ReinstateResult> {
    checkOptions({ ...opts, evidence: opts.evidence ?? null });
    const now = this.deps.clock.now();
    return this.transaction(async (trx): Promise<ReinstateResult> => {
      const fg = (await this.lockAccounts(trx, [accountId])).get(accountId);
      if (fg === undefined) throw new AppError('not_found', 'no such account');
      if (fg !== 'suspended' && !(await openSuspensions(trx, [accountId])).has(accountId)) return { reinstated: false, actionId: null, reversed: [] };
      const open = await trx
        .selectFrom('enforcement_actions')
        .select('id')
        .where('account_id', '=', accountId)
        .where('reversed_by', 'is', null)
        .where((eb) => eb.or([eb('action', '=', 'suspend'), eb.and([eb('action', 'in', ['throttle', 'challenge']), eb('expires_at', '>', now)])]))
        .execute();
      const reversed = open.map((r) => r.id);
      const actionId = await this.insert(trx, 'reinstate', accountId, { ...opts, evidence: opts.evidence ?? { reverses: reversed } }, now, null);
      if (reversed.length > 0) await trx.updateTable('enforcement_actions').set({ reversed_by: actionId }).where('id', 'in', reversed).execute();
      // What the account's actions stand for on every node: its own decisions and its suspension's sign-up holds.
      const lifted = await liftDecisions(trx, { accountId, actionIds: reversed }, opts, now);
      await enqueueWebhook(
        trx,
        'account.reinstated',
        { accountId, actionId, at: iso(now), actor: opts.actor, reason: opts.reason, reverses: reversed },
        now,
        this.deps.random,
      );
      // `lifts` names every decision lifted, an operator's own challenge or throttle too: without it the trail of such a decision ended at its decision.add.
      await this.audit(trx, { ...opts, evidence: null }, 'account.reinstate', accountId, { actionId, reason: opts.reason, reverses: reversed, lifts: lifted.map((d) => d.id) }, now);
      await this.deps.directory.setFindguardStatusIn(trx, accountId, 'active');
      this.afterCommit(trx, { enqueued: true, accounts: [accountId], decisions: lifted });
      return { reinstated: true, actionId, reversed };
    });
  }

  /** Slows the accounts down until `until` (epoch ms); the limits read it through activeRestrictions. */
  throttle(accountIds: readonly string[], until: number, opts: ActionOptions): Promise<RestrictResult> {
    return this.restrict('throttle', accountIds, until, opts);
  }

  /** Makes the accounts solve a challenge on every call until `until` (epoch ms). */
  challenge(accountIds: readonly string[], until: number, opts: ActionOptions): Promise<RestrictResult> {
    return this.restrict('challenge', accountIds, until, opts);
  }

  /** What is in force against the account at `now`: the limits' view of enforcement. */
  activeRestrictions(accountId: string, now: number): Promise<ActiveRestrictions> {
    return activeRestrictions(this.deps.db, accountId, now);
  }

  /** The account's enforcement history, newest first. */
  actionsFor(accountId: string, limit = 200): Promise<EnforcementAction[]> {
    return actionsFor(this.deps.db, accountId, limit);
  }

  private async restrict(kind: 'throttle' | 'challenge', accountIds: readonly string[], asked: number, opts: ActionOptions): Promise<RestrictResult> {
    checkOptions(opts);
    if (!Number.isSafeInteger(asked)) throw new AppError('invalid_request', 'until must be epoch milliseconds');
    if (opts.decidedAt !== undefined && !Number.isSafeInteger(opts.decidedAt)) throw new AppError('invalid_request', 'decidedAt must be epoch milliseconds');
    const out: RestrictResult = { recorded: [], unchanged: [], unknown: [], spared: [] };
    for (const chunk of chunks(sortedUnique(accountIds))) {
      const now = this.deps.clock.now();
      const until = onOwnClock(asked, opts.decidedAt, now);
      const part = await this.transaction(async (trx) => {
        const decided: StandingDecision[] = [];
        const r: RestrictResult = { recorded: [], unchanged: [], unknown: [], spared: [] };
        const status = await this.lockAccounts(trx, chunk);
        const running = await trx
          .selectFrom('enforcement_actions')
          .select(['account_id', (eb) => eb.fn.max('expires_at').as('until')])
          .where('account_id', 'in', chunk)
          .where('action', '=', kind)
          .where('reversed_by', 'is', null)
          .where('expires_at', '>', now)
          .groupBy('account_id')
          .execute();
        const runningUntil = new Map(running.map((x) => [x.account_id, Number(x.until)]));
        const spared = await this.reinstatedSince(trx, chunk, opts);
        for (const id of chunk) {
          if (!status.has(id)) r.unknown.push(id);
          else if (spared.has(id)) r.spared.push(id);
          else if (until <= now || (runningUntil.get(id) ?? 0) >= until) r.unchanged.push(id);
          else {
            const actionId = await this.insert(trx, kind, id, opts, now, until);
            decided.push(...(await insertDecisions(trx, [{ ...decisionOf(kind, actionId, opts, until), scope: 'account', subject: id }], now)));
            await this.audit(trx, opts, `account.${kind}`, id, { actionId, reason: opts.reason, until: iso(until) }, now);
            r.recorded.push(id);
          }
        }
        this.afterCommit(trx, { enqueued: false, accounts: [], decisions: decided });
        return r;
      });
      out.recorded.push(...part.recorded);
      out.unchanged.push(...part.unchanged);
      out.unknown.push(...part.unknown);
      out.spared.push(...part.spared);
    }
    return out;
  }

  /** The chunk's accounts reinstated at or after opts.sparedIfReinstatedSince (none without it). */
  private async reinstatedSince(trx: Kysely<Database>, ids: readonly string[], opts: Pick<ActionOptions, 'sparedIfReinstatedSince'>): Promise<Set<string>> {
    if (opts.sparedIfReinstatedSince === undefined || ids.length === 0) return new Set();
    const out = new Set<string>();
    for (const chunk of chunks(sortedUnique(ids))) {
      const rows = await trx
        .selectFrom('enforcement_actions')
        .select('account_id')
        .where('account_id', 'in', chunk)
        .where('action', '=', 'reinstate')
        .where('at', '>=', opts.sparedIfReinstatedSince)
        .execute();
      for (const r of rows) out.add(r.account_id);
    }
    return out;
  }

  /**
   * Which of the accounts an operator reinstated at or after `since`: the engine leaves them out
   * of a campaign it is about to open, as the enforcer then leaves them unsuspended (a reinstated
   * person is no fleet member, and their answers are no exposures).
   */
  reinstatedAmong(ids: readonly string[], since: number): Promise<Set<string>> {
    return this.reinstatedSince(this.deps.db, ids, { sparedIfReinstatedSince: since });
  }

  private transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return transaction(this.deps.db, fn, this.deps.log);
  }

  /** What this transaction changed, told to the deliverer, the directory's caches and the decision cache once it commits. */
  private afterCommit(tx: Tx, changed: { enqueued: boolean; accounts: readonly string[]; decisions: readonly StandingDecision[] }): void {
    if (!changed.enqueued && changed.accounts.length === 0 && changed.decisions.length === 0) return;
    tx.onCommit(() => {
      if (changed.enqueued) this.deps.onEnqueued?.();
      if (changed.accounts.length > 0) this.deps.directory.changed(changed.accounts);
      if (changed.decisions.length > 0) this.deps.decisions?.changed(changed.decisions);
    });
  }

  /** findguard status per existing account; in PostgreSQL the rows stay locked, so two engines cannot both act. */
  private async lockAccounts(trx: Transaction<Database>, ids: readonly string[]): Promise<Map<string, 'active' | 'suspended'>> {
    const q = trx.selectFrom('accounts').select(['id', 'fg_status']).where('id', 'in', ids).orderBy('id');
    const rows = await (this.postgres ? q.forUpdate() : q).execute();
    return new Map(rows.map((r) => [r.id, r.fg_status]));
  }

  private async insert(trx: Transaction<Database>, action: EnforcementKind, accountId: string, opts: ActionOptions, now: number, expiresAt: number | null): Promise<string> {
    const id = newId('act', now, this.deps.random);
    await trx
      .insertInto('enforcement_actions')
      .values({
        id,
        at: now,
        action,
        account_id: accountId,
        cluster_id: opts.clusterId ?? null,
        campaign_id: opts.campaignId ?? null,
        actor: opts.actor,
        reason: opts.reason,
        evidence: JSON.stringify(opts.evidence),
        expires_at: expiresAt,
        reversed_by: null,
      })
      .execute();
    return id;
  }

  /** Operators' actions go to the audit log; the engine's are already fully described by the action row. */
  private async audit(trx: Transaction<Database>, opts: ActionOptions, action: string, accountId: string, details: JsonValue, now: number): Promise<void> {
    if (opts.actor === ENGINE_ACTOR) return;
    const by = opts.by ?? { actor: { id: opts.actor, name: opts.actor, role: 'system', via: 'cli' }, from: null, tool: 'cli' };
    const entry = { ...by, action, subject: `account:${accountId}`, reason: opts.reason, details };
    await recordAudit(trx, entry, now, this.deps.random);
  }
}

function checkOptions(opts: ActionOptions): void {
  if (opts.actor !== ENGINE_ACTOR && !isOperatorName(opts.actor)) {
    throw new AppError('invalid_request', 'actor must be "engine" or an operator name (letters, digits, . _ @ -)');
  }
  if (opts.reason.trim().length === 0 || opts.reason.length > MAX_REASON) {
    throw new AppError('invalid_request', `reason must be 1 to ${MAX_REASON} characters`);
  }
}

/**
 * A restriction decided at `decidedAt` on the caller's clock, dated from the enforcer's `now`:
 * moved later by how far the caller's clock is behind (a backlog's events), never earlier (a
 * caller ahead keeps what it asked). Without decidedAt, or for a length that is not positive,
 * `until` as asked.
 */
function onOwnClock(until: number, decidedAt: number | undefined, now: number): number {
  if (decidedAt === undefined || decidedAt >= now || until <= decidedAt) return until;
  return until + (now - decidedAt);
}

/** The decision an action stands for, without its scope and subject. */
function decisionOf(action: NewDecision['action'], actionId: string, opts: ActionOptions, expiresAt: number | null): Omit<NewDecision, 'scope' | 'subject'> {
  return { action, reason: opts.reason, actor: opts.actor, expiresAt, actionId, clusterId: opts.clusterId, campaignId: opts.campaignId };
}

function groupHolds(holds: readonly SignupHold[] | undefined): Map<string, SignupHold[]> {
  const out = new Map<string, SignupHold[]>();
  for (const h of holds ?? []) {
    const list = out.get(h.accountId);
    if (list) list.push(h);
    else out.set(h.accountId, [h]);
  }
  return out;
}

function sortedUnique(ids: readonly string[]): string[] {
  return [...new Set(ids)].sort();
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}
