import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { isPostgres } from '../db/dialect.js';
import { transaction, type CommitLog, type Tx } from '../db/transaction.js';
import { DISCOVERY_BIT } from '../directory/purposes.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { exposureCounts } from './campaigns.js';
import { holderSince } from './exposure-rule.js';
import { finite, foundAgain, toldElsewhere } from './notices-told.js';
import { newId, parseJson } from './common.js';
import type { IncidentNotifier, NotifyOptions } from './incident-records.js';
import { buildNotice, type DiscoverableBy, type ExposureNotice, type NoticeFacts } from './notices-content.js';
import { EMPTY_CONTENT, noticeDeliveries, purgeExpiredNotices, type NoticeDeliveryPage, type NoticeStatus } from './notices-delivery.js';
import { enqueueWebhook } from './outbox.js';

/**
 * Exposure notices (GDPR Art. 34): when an incident is notified, one notice per account its
 * campaigns exposed, stored and sent to the app as a signed `exposure.notice` webhook through the
 * outbox, in one transaction per chunk. Notifying again writes only what is missing (the pair
 * incident/account is unique), so a retry after a crash, or two nodes at once, never sends twice.
 * A notice past its lifetime loses its content but keeps its row: the row is the record that the
 * account was told, and without it the next notification would tell it again.
 * A notice is erased with its account (foreign key); its delivery status is its outbox row's.
 *
 * One notice per exposure (attacker account, exposed account), whatever the incident: one attacker
 * account can belong to campaigns of two incidents, and the person it found was told by whichever
 * incident notified first. The other incident then writes a row without content or webhook (a
 * "covered" row, notices-delivery.ts): the account is accounted for there, and told nothing twice.
 */

export type { NoticeDeliveryItem, NoticeDeliveryPage, NoticeStatus } from './notices-delivery.js';

export interface NoticeDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  /** Told after a commit that added webhooks (the deliverer's poke). */
  onEnqueued?: () => void;
  log?: CommitLog;
  /** How long a notice is served and kept; default 365 days. */
  lifetimeMs?: number;
  /** The app offers its users "my contacts" discoverability; default true. */
  offersMyContacts?: boolean;
}

/** At most this many notices answer one account (newest first): an account is in few incidents. */
export const OWN_NOTICES_MAX = 50;
const DEFAULT_LIFETIME_MS = 365 * 24 * 3600_000;
const CHUNK = 200;
const IN_LIST = 500;
const EVENT_PAGE = 2000;
const MEASURE_RANK = { suspend: 3, challenge: 2, throttle: 1 } as const;
type MeasureAction = keyof typeof MEASURE_RANK;

/** How one attacker account saw one exposed account. */
interface Seen {
  first: number;
  last: number;
  /** The latest stored exposure (a period's first answer: exposure-periods.ts), before the events move `last` on. */
  recorded: number;
  /** Kinds of the lookups that revealed it (kept lookup records only). */
  via: Set<'phone' | 'email'>;
}

/** Exposed account -> attacker account -> how it saw it. */
type Exposed = Map<string, Map<string, Seen>>;

export class ExposureNotices implements IncidentNotifier {
  constructor(private readonly deps: NoticeDeps) {}

  /**
   * Writes and sends the notices of an incident's campaigns that do not exist yet. Returns how
   * many the incident has in all (`notices`) and how many accounts this call added to them
   * (`created`: notices sent, and accounts found covered by another incident's notice).
   * `opts.onAdded` runs in each chunk's transaction with what that chunk added, so a count kept
   * elsewhere commits with the notices it counts.
   */
  async notifyIncident(incidentId: string, campaignIds: string[], at: Date, opts: NotifyOptions = {}): Promise<{ notices: number; created: number }> {
    if (incidentId.length === 0 || incidentId.length > 200) throw new AppError('invalid_request', 'incidentId must be 1 to 200 characters');
    const now = at.getTime();
    if (!Number.isFinite(now)) throw new AppError('invalid_request', 'at must be a valid time');
    const { db } = this.deps;
    // Notices past their expiry are never served; their content is dropped here too, not only by the hourly purge.
    await this.purgeExpired(this.deps.clock.now());
    const campaigns = [...new Set(campaignIds)];
    const { exposed, holders } = await this.exposedAccounts(campaigns);
    const done = new Set((await db.selectFrom('exposure_notices').select('account_id').where('incident_id', '=', incidentId).execute()).map((r) => r.account_id));
    // Erased accounts get no notice (and have no one to read it): exposedAccounts read only accounts
    // still in the directory, and one erased meanwhile is left out under its lock (writeChunk).
    const pending = [...exposed.keys()].filter((id) => !done.has(id)).sort();
    let created = 0;
    if (pending.length > 0) {
      await this.lastShown(exposed);
      const measures = await this.measures([...new Set(pending.flatMap((id) => [...exposed.get(id)!.keys()]))], this.deps.clock.now());
      for (let i = 0; i < pending.length; i += CHUNK) {
        created += await this.writeChunk(incidentId, pending.slice(i, i + CHUNK), exposed, holders, (accountId, id, seen, discoverableBy) => buildNotice(this.facts(incidentId, accountId, id, now, seen, measures, discoverableBy)), now, opts);
      }
    }
    const total = await db.selectFrom('exposure_notices').select((eb) => eb.fn.countAll<number>().as('n')).where('incident_id', '=', incidentId).executeTakeFirstOrThrow();
    return { notices: Number(total.n), created };
  }

  /** The account's own notices that have not expired, newest first: what `GET /v1/me/exposures` answers. */
  async forAccount(accountId: string, now = this.deps.clock.now()): Promise<ExposureNotice[]> {
    const rows = await this.deps.db
      .selectFrom('exposure_notices')
      .select('content')
      .where('account_id', '=', accountId)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(OWN_NOTICES_MAX)
      .execute();
    return rows.map((r) => parseJson(r.content) as unknown as ExposureNotice).filter((n) => n !== null);
  }

  /** Delivery of an incident's notices for operators: counts by status and one page, by notice id (notices-delivery.ts). */
  deliveries(incidentId: string, opts: { status?: NoticeStatus; cursor?: string; limit?: number } = {}): Promise<NoticeDeliveryPage> {
    return noticeDeliveries(this.deps.db, incidentId, this.deps.clock.now(), opts);
  }

  /**
   * Empties the notices past their expiry and their webhooks' payloads; returns how many notices
   * it emptied. The rows stay, so "already sent" still holds for them (notices-delivery.ts).
   */
  purgeExpired(now = this.deps.clock.now()): Promise<number> {
    return purgeExpiredNotices(this.deps.db, now, this.deps.log);
  }

  private facts(incidentId: string, accountId: string, id: string, now: number, seen: ReadonlyMap<string, Seen>, measures: Map<string, { action: MeasureAction; at: number }>, discoverableBy: DiscoverableBy): NoticeFacts {
    const byAction = new Map<MeasureAction, { accounts: number; firstAt: number; lastAt: number }>();
    let first = Infinity;
    let last = -Infinity;
    const via = new Set<'phone' | 'email'>();
    for (const [attacker, s] of seen) {
      first = Math.min(first, s.first);
      last = Math.max(last, s.last);
      for (const k of s.via) via.add(k);
      const m = measures.get(attacker);
      if (!m) continue;
      const agg = byAction.get(m.action) ?? { accounts: 0, firstAt: m.at, lastAt: m.at };
      agg.accounts++;
      agg.firstAt = Math.min(agg.firstAt, m.at);
      agg.lastAt = Math.max(agg.lastAt, m.at);
      byAction.set(m.action, agg);
    }
    return {
      id,
      incidentId,
      accountId,
      createdAt: now,
      expiresAt: now + (this.deps.lifetimeMs ?? DEFAULT_LIFETIME_MS),
      firstAt: first,
      lastAt: last,
      attackerAccounts: seen.size,
      measures: [...byAction].sort((a, b) => MEASURE_RANK[b[0]] - MEASURE_RANK[a[0]]).map(([action, m]) => ({ action, ...m })),
      discoverableBy,
      via: [...via].sort(),
      offersMyContacts: this.deps.offersMyContacts ?? true,
    };
  }

  /**
   * One transaction: the chunk's notices and their webhooks, or none of them. It starts by taking
   * the chunk's accounts (PostgreSQL): an erasure under way is waited for and its account left out
   * (inserting its notice would break the foreign key and lose the whole chunk), and of two
   * incidents notifying one account, the second sees the first's notice before it decides.
   */
  private async writeChunk(
    incidentId: string,
    accountIds: string[],
    exposed: Exposed,
    holders: ReadonlyMap<string, number>,
    notice: (accountId: string, id: string, seen: ReadonlyMap<string, Seen>, discoverableBy: DiscoverableBy) => ExposureNotice,
    now: number,
    opts: NotifyOptions,
  ): Promise<number> {
    return transaction(this.deps.db, async (trx) => {
      // An account erased meanwhile is left out, and so is one mirrored again since its exposures were read.
      const live = (await lockAccounts(trx, accountIds)).filter((a) => a.mirroredAt === holders.get(a.id)).map((a) => a.id);
      if (live.length === 0) return 0;
      const told = await toldElsewhere(trx, incidentId, live);
      const settings = await this.settings(trx, live);
      let sent = 0;
      let added = 0;
      for (const accountId of live) {
        const id = newId('ntc', now, this.deps.random);
        const known = told.get(accountId);
        const all = exposed.get(accountId)!;
        // Told by another incident's notice, unless this attacker account was recorded showing the
        // account again in a later period (exposure-periods.ts: a scan after a reinstatement).
        const fresh = new Map<string, Seen>();
        for (const [attacker, seen] of all) {
          const toldUpTo = known?.get(attacker);
          if (toldUpTo === undefined || (await foundAgain(trx, attacker, accountId, toldUpTo, seen.recorded))) fresh.set(attacker, seen);
        }
        // Every exposure already told by another incident: this one records the account as covered and sends nothing.
        const content = fresh.size === 0 ? null : notice(accountId, id, fresh, settings.get(accountId) ?? 'nobody');
        // What this row stands for: the attackers it tells of, each with the latest exposure it
        // accounts for, or (covered) what the notices before it had told.
        const toldNow = JSON.stringify(
          Object.fromEntries(fresh.size === 0 ? [...all.keys()].sort().map((a) => [a, finite(known?.get(a))]) : [...fresh].sort(([a], [b]) => (a < b ? -1 : 1)).map(([a, seen]) => [a, seen.recorded])),
        );
        // A concurrent notifier that got here first wins; this one then sends nothing for the account.
        const inserted = await trx
          .insertInto('exposure_notices')
          .values({ id, incident_id: incidentId, account_id: accountId, content: content ? JSON.stringify(content) : EMPTY_CONTENT, event_id: null, created_at: now, expires_at: content ? Date.parse(content.expiresAt) : now + (this.deps.lifetimeMs ?? DEFAULT_LIFETIME_MS), told_attackers: toldNow })
          .onConflict((oc) => oc.columns(['incident_id', 'account_id']).doNothing())
          .returning('id')
          .executeTakeFirst();
        if (!inserted) continue;
        added++;
        if (!content) continue;
        const eventId = await enqueueWebhook(trx, 'exposure.notice', content, now, this.deps.random);
        await trx.updateTable('exposure_notices').set({ event_id: eventId }).where('id', '=', id).execute();
        sent++;
      }
      if (added > 0 && opts.onAdded) await opts.onAdded(trx, added);
      const onEnqueued = this.deps.onEnqueued;
      if (onEnqueued && sent > 0) trx.onCommit(onEnqueued);
      return added;
    }, this.deps.log);
  }

  /**
   * Exposed account -> the attacker accounts it was shown to, and when first, over the campaigns
   * (exposureCounts: a member of the campaigns is no victim, what a reinstated member found is left
   * out), and the mirroring of each account the exposures belong to: an erased account has none
   * (nobody to tell), and one erased and mirrored again is told only what was shown of it since.
   */
  private async exposedAccounts(campaignIds: string[]): Promise<{ exposed: Exposed; holders: Map<string, number> }> {
    const out: Exposed = new Map();
    const holders = new Map<string, number>();
    const counts = await exposureCounts(this.deps.db, campaignIds);
    for (let i = 0; i < campaignIds.length; i += IN_LIST) {
      const rows = await this.deps.db
        .selectFrom('exposures as e')
        .innerJoin('accounts as a', 'a.id', 'e.revealed_account_id')
        // With its campaign: the rule judges each row by its own campaign's detection, as the report does.
        .select(['e.revealed_account_id', 'e.attacker_account_id', 'e.at', 'e.campaign_id', 'a.mirrored_at'])
        .where('e.campaign_id', 'in', campaignIds.slice(i, i + IN_LIST))
        .execute();
      for (const r of rows) {
        const at = Number(r.at);
        const mirroredAt = Number(r.mirrored_at);
        if (at < holderSince(mirroredAt) || !counts(r)) continue;
        holders.set(r.revealed_account_id, mirroredAt);
        const seen = out.get(r.revealed_account_id) ?? new Map<string, Seen>();
        const s = seen.get(r.attacker_account_id);
        // Two campaigns may hold the same pair: one exposure, seen first at the earlier time.
        if (s) {
          s.first = Math.min(s.first, at);
          s.last = Math.max(s.last, at);
          s.recorded = Math.max(s.recorded, at);
        } else seen.set(r.attacker_account_id, { first: at, last: at, recorded: at, via: new Set() });
        out.set(r.revealed_account_id, seen);
      }
    }
    return { exposed: out, holders };
  }

  /**
   * Exposures keep when each attacker account first saw an account; a later answer to the same
   * attacker shows it again. The stored lookup events (kept for their retention) say when it was
   * last shown; past their retention the last first showing stands.
   */
  private async lastShown(exposed: Exposed): Promise<void> {
    const attackers = new Set<string>();
    for (const seen of exposed.values()) for (const a of seen.keys()) attackers.add(a);
    for (const attacker of attackers) {
      let after: string | undefined;
      for (;;) {
        let q = this.deps.db.selectFrom('lookup_events').select(['id', 'at', 'kind', 'revealed']).where('account_id', '=', attacker).where('outcome', '=', 'allowed').where('matched', '>', 0);
        if (after !== undefined) q = q.where('id', '>', after);
        const rows = await q.orderBy('id').limit(EVENT_PAGE).execute();
        for (const r of rows) {
          const revealed = parseJson(r.revealed);
          if (!Array.isArray(revealed)) continue;
          for (const id of revealed) {
            const s = typeof id === 'string' ? exposed.get(id)?.get(attacker) : undefined;
            if (!s) continue;
            s.last = Math.max(s.last, Number(r.at));
            if (r.kind === 'phone' || r.kind === 'email') s.via.add(r.kind);
          }
        }
        if (rows.length < EVENT_PAGE) break;
        after = rows.at(-1)!.id;
      }
    }
  }

  /** Attacker account -> the strongest restriction standing on it at `now`, and since when. */
  private async measures(attackers: string[], now: number): Promise<Map<string, { action: MeasureAction; at: number }>> {
    const out = new Map<string, { action: MeasureAction; at: number }>();
    for (let i = 0; i < attackers.length; i += IN_LIST) {
      const rows = await this.deps.db
        .selectFrom('enforcement_actions')
        .select(['account_id', 'action', 'at'])
        .where('account_id', 'in', attackers.slice(i, i + IN_LIST))
        .where('action', 'in', ['suspend', 'challenge', 'throttle'])
        .where('reversed_by', 'is', null)
        // A throttle or challenge that ran out is no measure the person can be told stands.
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .execute();
      for (const r of rows) {
        const action = r.action as MeasureAction;
        const at = Number(r.at);
        const best = out.get(r.account_id);
        if (!best || MEASURE_RANK[action] > MEASURE_RANK[best.action] || (action === best.action && at < best.at)) out.set(r.account_id, { action, at });
      }
    }
    return out;
  }

  /** Each account's discoverability: the widest audience among its points with the discovery purpose. */
  private async settings(db: Kysely<Database>, ids: string[]): Promise<Map<string, DiscoverableBy>> {
    const rows = await db
      .selectFrom('contact_points')
      .select(['account_id', 'discoverable_by'])
      .where('account_id', 'in', ids)
      .where(sql<boolean>`(purposes & ${DISCOVERY_BIT}) <> 0`)
      .execute();
    const out = new Map<string, DiscoverableBy>();
    for (const r of rows) {
      const prev = out.get(r.account_id);
      if (r.discoverable_by === 'everyone' || prev === undefined) out.set(r.account_id, r.discoverable_by);
    }
    return out;
  }
}

/**
 * Of these accounts (sorted), those still in the directory and when each was mirrored, taken until
 * the transaction ends on PostgreSQL (FOR NO KEY UPDATE, in id order as every account lock: it
 * waits for an erasure's FOR UPDATE and then skips the erased row, and for another notifier of the
 * same accounts).
 */
async function lockAccounts(tx: Tx, ids: string[]): Promise<Array<{ id: string; mirroredAt: number }>> {
  const q = tx.selectFrom('accounts').select(['id', 'mirrored_at']).where('id', 'in', ids).orderBy('id');
  const rows = await (isPostgres(tx) ? q.forNoKeyUpdate() : q).execute();
  return rows.map((r) => ({ id: r.id, mirroredAt: Number(r.mirrored_at) }));
}

