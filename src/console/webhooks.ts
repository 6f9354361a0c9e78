import type { Kysely } from 'kysely';
import type { Database, WebhookOutboxTable } from '../db/schema.js';
import { transaction, type CommitLog } from '../db/transaction.js';
import { AppError } from '../errors.js';
import { isExpiredNoticeEvent } from '../incidents/outbox.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { auditChange, type Actor } from './actor.js';

/**
 * The webhook outbox as operators see it: what was sent, what failed and why, and redelivery of
 * a row (delivered or given up) with the same id and bytes, so the receiver deduplicates it.
 */

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  id: string;
  type: string;
  createdAt: number;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  lastError: string | null;
}

export interface WebhooksDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  /** Told after a redelivery commits: a deliverer in this process sends at once. */
  poke?: () => void;
  log?: CommitLog;
}

export class ConsoleWebhooks {
  constructor(private readonly deps: WebhooksDeps) {}

  /** Newest first; page on with `before` = the last id. Payloads are not listed (they name accounts in bulk). */
  async deliveries(opts: { state?: DeliveryState | undefined; before?: string | undefined; limit?: number | undefined } = {}): Promise<{ items: Delivery[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 500);
    let q = this.deps.db.selectFrom('webhook_outbox').select(COLUMNS);
    if (opts.state === 'delivered') q = q.where('delivered_at', 'is not', null);
    if (opts.state === 'pending') q = q.where('delivered_at', 'is', null).where('next_attempt_at', 'is not', null);
    if (opts.state === 'failed') q = q.where('delivered_at', 'is', null).where('next_attempt_at', 'is', null);
    if (opts.before) q = q.where('id', '<', opts.before);
    const rows = await q.orderBy('id', 'desc').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map(toDelivery);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  /** Queues the row again, now, with a fresh count of attempts; audited with the change. */
  async redeliver(actor: Actor, id: string): Promise<Delivery> {
    const now = this.deps.clock.now();
    await transaction(
      this.deps.db,
      async (tx) => {
        const row = await tx.selectFrom('webhook_outbox').select(['id', 'event_type', 'payload', 'delivered_at', 'next_attempt_at', 'attempts']).where('id', '=', id).executeTakeFirst();
        if (!row) throw new AppError('not_found', 'no such delivery');
        // A notice past its lifetime is no longer the app's to show: its webhook is not sent again.
        if (isExpiredNoticeEvent(row, now)) throw new AppError('conflict', 'the exposure notice has expired: it is not sent again', { reason: 'notice_expired' });
        if (row.delivered_at === null && row.next_attempt_at !== null) throw new AppError('conflict', 'the delivery is still pending');
        await tx.updateTable('webhook_outbox').set({ next_attempt_at: now, attempts: 0, delivered_at: null }).where('id', '=', id).execute();
        await auditChange(
          tx,
          actor,
          { action: 'webhook.redeliver', subject: `webhook:${id}`, before: { delivered: row.delivered_at !== null, attempts: row.attempts }, after: { pending: true } },
          now,
          this.deps.random,
        );
        const poke = this.deps.poke;
        if (poke) tx.onCommit(poke);
      },
      this.deps.log,
    );
    const row = await this.deps.db.selectFrom('webhook_outbox').select(COLUMNS).where('id', '=', id).executeTakeFirstOrThrow();
    return toDelivery(row);
  }
}

const COLUMNS = ['id', 'event_type', 'created_at', 'attempts', 'next_attempt_at', 'delivered_at', 'last_error'] as const;

function toDelivery(r: Pick<WebhookOutboxTable, (typeof COLUMNS)[number]>): Delivery {
  return {
    id: r.id,
    type: r.event_type,
    createdAt: Number(r.created_at),
    state: r.delivered_at !== null ? 'delivered' : r.next_attempt_at !== null ? 'pending' : 'failed',
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
    lastError: r.last_error,
  };
}
