import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { transaction, type CommitLog } from '../db/transaction.js';
import { EXPIRED_NOTICE_PAYLOAD } from './outbox.js';

/**
 * The operators' side of exposure notices (notices.ts): what became of each one, and the end of
 * its lifetime. A notice's status is its outbox row's (queued, delivered, failed) while it is
 * served; past its expiry it is `expired` (nothing of it is served or sent any more, its delivery
 * record stays); `covered` is an account this incident exposed that another incident's notice had
 * already told of the same exposures, so this one sent nothing.
 */

export type NoticeStatus = 'queued' | 'delivered' | 'failed' | 'expired' | 'covered';
export const NOTICE_STATUSES: readonly NoticeStatus[] = ['queued', 'delivered', 'failed', 'expired', 'covered'];

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

/** What an expired notice's content becomes: JSON null, which forAccount would skip anyway. */
export const EMPTY_CONTENT = 'null';
const PURGE_BATCH = 500;

/**
 * Delivery of an incident's notices for operators: counts by status and one page, by notice id.
 * A covered row is one with neither content nor webhook (a sent notice always has its webhook).
 */
export async function noticeDeliveries(db: Kysely<Database>, incidentId: string, now: number, opts: { status?: NoticeStatus; cursor?: string; limit?: number } = {}): Promise<NoticeDeliveryPage> {
  // Literals, not parameters: PostgreSQL must see the grouped expression and the selected one as the same.
  const statusSql = sql<NoticeStatus>`case when n.event_id is null and n.content = ${sql.lit(EMPTY_CONTENT)} then 'covered' when n.expires_at <= ${sql.lit(Math.floor(now))} then 'expired' when o.delivered_at is not null then 'delivered' when o.id is not null and o.next_attempt_at is null then 'failed' else 'queued' end`;
  const countRows = await db
    .selectFrom('exposure_notices as n')
    .leftJoin('webhook_outbox as o', 'o.id', 'n.event_id')
    .select([statusSql.as('status'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('n.incident_id', '=', incidentId)
    .groupBy(statusSql)
    .execute();
  const counts = { queued: 0, delivered: 0, failed: 0, expired: 0, covered: 0, total: 0 };
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
 * Empties the notices past their expiry, and their exposure.notice webhooks with them (the outbox
 * row carries the whole notice): returns how many notices it emptied. The notice rows stay,
 * holding ids and times only, so "already sent" still holds for them (one notice per exposure,
 * ever); the outbox rows stay too, as the record of their delivery, no longer due and with a
 * payload that names nobody, so neither the deliverer nor a redelivery sends them again.
 * Each batch is one transaction: a notice never outlives its webhook's content, nor the reverse.
 */
export async function purgeExpiredNotices(db: Kysely<Database>, now: number, log?: CommitLog): Promise<number> {
  let emptied = 0;
  for (;;) {
    const done = await transaction(
      db,
      async (tx) => {
        // The literal matches the partial index exposure_notices_live (migration 20261226000000), which a bound parameter would not on SQLite.
        const rows = await tx
          .selectFrom('exposure_notices')
          .select(['id', 'event_id'])
          .where('expires_at', '<=', now)
          .where(sql<boolean>`content <> 'null'`)
          .limit(PURGE_BATCH)
          .execute();
        if (rows.length === 0) return 0;
        const events = rows.flatMap((r) => (r.event_id === null ? [] : [r.event_id]));
        if (events.length > 0) {
          await tx
            .updateTable('webhook_outbox')
            .set((eb) => ({
              payload: EXPIRED_NOTICE_PAYLOAD,
              next_attempt_at: null,
              last_error: eb.case().when('delivered_at', 'is', null).then(sql.lit('notice expired')).else(eb.ref('last_error')).end(),
            }))
            .where('id', 'in', events)
            .where('event_type', '=', 'exposure.notice')
            .execute();
        }
        const r = await tx
          .updateTable('exposure_notices')
          .set({ content: EMPTY_CONTENT })
          .where('id', 'in', rows.map((x) => x.id))
          .executeTakeFirst();
        return Number(r.numUpdatedRows);
      },
      log,
    );
    emptied += done;
    if (done < PURGE_BATCH) return emptied;
  }
}
