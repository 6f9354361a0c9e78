import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog } from '../db/transaction.js';
import { DISCOVERY_BIT } from '../directory/purposes.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { exposureCounts } from './campaigns.js';
import { newId, parseJson } from './common.js';
import type { IncidentNotifier } from './incident-records.js';
import { buildNotice, type DiscoverableBy, type ExposureNotice, type NoticeFacts } from './notices-content.js';
import { enqueueWebhook } from './outbox.js';

/**
 * Exposure notices (GDPR Art. 34): when an incident is notified, one notice per account its
 * campaigns exposed, stored and sent to the app as a signed `exposure.notice` webhook through the
 * outbox, in one transaction per chunk. Notifying again writes only what is missing (the pair
 * incident/account is unique), so a retry after a crash, or two nodes at once, never sends twice.
 * A notice past its lifetime loses its content but keeps its row: the row is the record that the
 * account was told, and without it the next notification would tell it again.
 * A notice is erased with its account (foreign key); its delivery status is its outbox row's.
 */

export type NoticeStatus = 'queued' | 'delivered' | 'failed';

export interface NoticeDeliveryItem {
  id: string;
  accountId: string;
  createdAt: number;
  expiresAt: number;
  status: NoticeStatus;
  eventId: string | null;
  attempts: number;
  deliveredAt: number | null;
  lastError: string | null;
}

export interface NoticeDeliveryPage {
  incidentId: string;
  counts: Record<NoticeStatus, number> & { total: number };
  items: NoticeDeliveryItem[];
  nextCursor: string | null;
}

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
/** What an expired notice's content becomes: JSON null, which forAccount would skip anyway. */
const EXPIRED_CONTENT = 'null';
const EVENT_PAGE = 2000;
const MEASURE_RANK = { suspend: 3, challenge: 2, throttle: 1 } as const;
type MeasureAction = keyof typeof MEASURE_RANK;

interface Exposed {
  attackers: Set<string>;
  first: number;
  last: number;
  /** Kinds of the lookups that revealed it (kept lookup records only). */
  via: Set<'phone' | 'email'>;
}

export class ExposureNotices implements IncidentNotifier {
  constructor(private readonly deps: NoticeDeps) {}

  /**
   * Writes and sends the notices of an incident's campaigns that do not exist yet. Returns how
   * many the incident has in all (`notices`) and how many this call wrote (`created`).
   */
  async notifyIncident(incidentId: string, campaignIds: string[], at: Date): Promise<{ notices: number; created: number }> {
    if (incidentId.length === 0 || incidentId.length > 200) throw new AppError('invalid_request', 'incidentId must be 1 to 200 characters');
    const now = at.getTime();
    if (!Number.isFinite(now)) throw new AppError('invalid_request', 'at must be a valid time');
    const { db } = this.deps;
    // Notices past their expiry are never served; their content is dropped here, at the next notification (one UPDATE).
    await this.purgeExpired(this.deps.clock.now());
    const campaigns = [...new Set(campaignIds)];
    const exposed = await this.exposedAccounts(campaigns);
    const done = new Set((await db.selectFrom('exposure_notices').select('account_id').where('incident_id', '=', incidentId).execute()).map((r) => r.account_id));
    // Erased accounts get no notice (and have no one to read it).
    const pending = await this.existing([...exposed.keys()].filter((id) => !done.has(id)).sort());
    let created = 0;
    if (pending.length > 0) {
      await this.lastShown(exposed);
      const measures = await this.measures([...new Set(pending.flatMap((id) => [...exposed.get(id)!.attackers]))], this.deps.clock.now());
      for (let i = 0; i < pending.length; i += CHUNK) {
        const chunk = pending.slice(i, i + CHUNK);
        const settings = await this.settings(chunk);
        created += await this.writeChunk(incidentId, chunk, (accountId, id) => {
          const e = exposed.get(accountId)!;
          return buildNotice(this.facts(incidentId, accountId, id, now, e, measures, settings.get(accountId) ?? 'nobody'));
        }, now);
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

  /** Delivery of an incident's notices for operators: counts by status and one page, by notice id. */
  async deliveries(incidentId: string, opts: { status?: NoticeStatus; cursor?: string; limit?: number } = {}): Promise<NoticeDeliveryPage> {
    const { db } = this.deps;
    const statusSql = sql<NoticeStatus>`case when o.delivered_at is not null then 'delivered' when o.id is not null and o.next_attempt_at is null then 'failed' else 'queued' end`;
    const countRows = await db
      .selectFrom('exposure_notices as n')
      .leftJoin('webhook_outbox as o', 'o.id', 'n.event_id')
      .select([statusSql.as('status'), (eb) => eb.fn.countAll<number>().as('n')])
      .where('n.incident_id', '=', incidentId)
      .groupBy(statusSql)
      .execute();
    const counts = { queued: 0, delivered: 0, failed: 0, total: 0 };
    for (const r of countRows) {
      counts[r.status] += Number(r.n);
      counts.total += Number(r.n);
    }
    const limit = opts.limit ?? 100;
    let q = db
      .selectFrom('exposure_notices as n')
      .leftJoin('webhook_outbox as o', 'o.id', 'n.event_id')
      .select(['n.id', 'n.account_id', 'n.created_at', 'n.expires_at', 'n.event_id', 'o.attempts', 'o.delivered_at', 'o.last_error', statusSql.as('status')])
      .where('n.incident_id', '=', incidentId);
    if (opts.status) q = q.where(statusSql, '=', opts.status);
    if (opts.cursor) q = q.where('n.id', '>', opts.cursor);
    const rows = await q.orderBy('n.id').limit(limit + 1).execute();
    const page = rows.slice(0, limit);
    return {
      incidentId,
      counts,
      items: page.map((r) => ({
        id: r.id,
        accountId: r.account_id,
        createdAt: Number(r.created_at),
        expiresAt: Number(r.expires_at),
        status: r.status,
        eventId: r.event_id,
        attempts: Number(r.attempts ?? 0),
        deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
        lastError: r.last_error,
      })),
      nextCursor: rows.length > limit ? page.at(-1)!.id : null,
    };
  }

  /**
   * Drops the content of notices past their expiry; returns how many it emptied. The rows stay,
   * holding ids and times only, so "already sent" still holds for them (one notice per incident
   * and account, ever), and the delivery counts stay what was sent.
   */
  async purgeExpired(now = this.deps.clock.now()): Promise<number> {
    const r = await this.deps.db
      .updateTable('exposure_notices')
      .set({ content: EXPIRED_CONTENT })
      .where('expires_at', '<=', now)
      .where('content', '<>', EXPIRED_CONTENT)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  private facts(incidentId: string, accountId: string, id: string, now: number, e: Exposed, measures: Map<string, { action: MeasureAction; at: number }>, discoverableBy: DiscoverableBy): NoticeFacts {
    const byAction = new Map<MeasureAction, { accounts: number; firstAt: number; lastAt: number }>();
    for (const attacker of e.attackers) {
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
      firstAt: e.first,
      lastAt: e.last,
      attackerAccounts: e.attackers.size,
      measures: [...byAction].sort((a, b) => MEASURE_RANK[b[0]] - MEASURE_RANK[a[0]]).map(([action, m]) => ({ action, ...m })),
      discoverableBy,
      via: [...e.via].sort(),
      offersMyContacts: this.deps.offersMyContacts ?? true,
    };
  }

  /** One transaction: the chunk's notices and their webhooks, or none of them. */
  private async writeChunk(incidentId: string, accountIds: string[], notice: (accountId: string, id: string) => ExposureNotice, now: number): Promise<number> {
    return transaction(this.deps.db, async (trx) => {
      let written = 0;
      for (const accountId of accountIds) {
        const id = newId('ntc', now, this.deps.random);
        const content = notice(accountId, id);
        // A concurrent notifier that got here first wins; this one then sends nothing for the account.
        const inserted = await trx
          .insertInto('exposure_notices')
          .values({ id, incident_id: incidentId, account_id: accountId, content: JSON.stringify(content), event_id: null, created_at: now, expires_at: Date.parse(content.expiresAt) })
          .onConflict((oc) => oc.columns(['incident_id', 'account_id']).doNothing())
          .returning('id')
          .executeTakeFirst();
        if (!inserted) continue;
        const eventId = await enqueueWebhook(trx, 'exposure.notice', content, now, this.deps.random);
        await trx.updateTable('exposure_notices').set({ event_id: eventId }).where('id', '=', id).execute();
        written++;
      }
      const onEnqueued = this.deps.onEnqueued;
      if (onEnqueued && written > 0) trx.onCommit(onEnqueued);
      return written;
    }, this.deps.log);
  }

  /**
   * Exposed account -> the attacker accounts it was shown to and the first times, over the
   * campaigns. An account of one of the campaigns is no victim of another: it gets no notice.
   * A member an operator reinstated is a person, not an attacker: what it found is left out.
   */
  private async exposedAccounts(campaignIds: string[]): Promise<Map<string, Exposed>> {
    const out = new Map<string, Exposed>();
    const counts = await exposureCounts(this.deps.db, campaignIds);
    for (let i = 0; i < campaignIds.length; i += IN_LIST) {
      const rows = await this.deps.db
        .selectFrom('exposures')
        .select(['revealed_account_id', 'attacker_account_id', 'at'])
        .where('campaign_id', 'in', campaignIds.slice(i, i + IN_LIST))
        .execute();
      for (const r of rows) {
        if (!counts(r)) continue;
        const at = Number(r.at);
        const e = out.get(r.revealed_account_id) ?? { attackers: new Set<string>(), first: at, last: at, via: new Set<'phone' | 'email'>() };
        e.attackers.add(r.attacker_account_id);
        e.first = Math.min(e.first, at);
        e.last = Math.max(e.last, at);
        out.set(r.revealed_account_id, e);
      }
    }
    return out;
  }

  /**
   * Exposures keep when each attacker account first saw an account; a later answer to the same
   * attacker shows it again. The stored lookup events (kept for their retention) say when it was
   * last shown; past their retention the last first showing stands.
   */
  private async lastShown(exposed: Map<string, Exposed>): Promise<void> {
    const attackers = new Set<string>();
    for (const e of exposed.values()) for (const a of e.attackers) attackers.add(a);
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
            const e = typeof id === 'string' ? exposed.get(id) : undefined;
            if (!e || !e.attackers.has(attacker)) continue;
            e.last = Math.max(e.last, Number(r.at));
            if (r.kind === 'phone' || r.kind === 'email') e.via.add(r.kind);
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

  /** Of these account ids, those still in the directory, in order. */
  private async existing(ids: string[]): Promise<string[]> {
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += IN_LIST) {
      const rows = await this.deps.db.selectFrom('accounts').select('id').where('id', 'in', ids.slice(i, i + IN_LIST)).execute();
      for (const r of rows) found.add(r.id);
    }
    return ids.filter((id) => found.has(id));
  }

  /** Each account's discoverability: the widest audience among its points with the discovery purpose. */
  private async settings(ids: string[]): Promise<Map<string, DiscoverableBy>> {
    const rows = await this.deps.db
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
