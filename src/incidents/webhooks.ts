import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { backoffDelay } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signWebhook } from './signature.js';
import { Poller } from '../util/poller.js';

/**
 * Delivers the webhook outbox (outbox.ts) to the app's endpoint: at least once, signed, each
 * event with its idempotency id, retried with exponential backoff and jitter until a 2xx or
 * `maxAttempts`. A row given up on stays in the outbox (next_attempt_at null, delivered_at
 * null, last_error set) for operators to see. Several nodes may run a deliverer: each row is
 * claimed with a conditional update before it is sent, so only one node sends each attempt.
 */

export interface DelivererOptions {
  db: Kysely<Database>;
  url: URL;
  secret: string;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Attempts before giving up; default 12 (about a day and a half with the default delays). */
  maxAttempts?: number;
  /** Delay before the first retry; doubles after each failure. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per request. */
  timeoutMs?: number;
  /** Rows claimed per poll. */
  batchSize?: number;
  /** Pause between polls when nothing is due. */
  pollMs?: number;
}

export interface DeliveryRound {
  delivered: number;
  failed: number;
  gaveUp: number;
  /** Rows another node claimed first. */
  skipped: number;
}

const DEFAULTS = {
  maxAttempts: 12,
  baseDelayMs: 30_000,
  maxDelayMs: 6 * 3600_000,
  timeoutMs: 10_000,
  batchSize: 50,
  pollMs: 2_000,
};

// Retries with "equal jitter" (the random argument): see util/backoff.ts.
export { backoffDelay };

export class WebhookDeliverer {
  private readonly opts: Required<Omit<DelivererOptions, 'db' | 'url' | 'secret' | 'clock' | 'random' | 'logger'>>;
  private readonly poller: Poller;

  constructor(private readonly deps: DelivererOptions) {
    this.opts = {
      maxAttempts: deps.maxAttempts ?? DEFAULTS.maxAttempts,
      baseDelayMs: deps.baseDelayMs ?? DEFAULTS.baseDelayMs,
      maxDelayMs: deps.maxDelayMs ?? DEFAULTS.maxDelayMs,
      timeoutMs: deps.timeoutMs ?? DEFAULTS.timeoutMs,
      batchSize: deps.batchSize ?? DEFAULTS.batchSize,
      pollMs: deps.pollMs ?? DEFAULTS.pollMs,
    };
    this.poller = new Poller({
      round: async () => {
        const r = await this.deliverDue();
        // A full batch means more may be waiting.
        return r.delivered + r.failed + r.gaveUp + r.skipped >= this.opts.batchSize;
      },
      intervalMs: () => this.opts.pollMs,
      onError: (err) => this.deps.logger.error({ err }, 'webhook outbox poll failed'),
    });
  }

  /** One round: claims up to batchSize due rows and tries each once, oldest first. */
  async deliverDue(): Promise<DeliveryRound> {
    const round: DeliveryRound = { delivered: 0, failed: 0, gaveUp: 0, skipped: 0 };
    const { db } = this.deps;
    const now = this.deps.clock.now();
    const due = await db
      .selectFrom('webhook_outbox')
      .select(['id', 'event_type', 'payload', 'attempts', 'next_attempt_at'])
      .where('next_attempt_at', '<=', now)
      .orderBy('id')
      .limit(this.opts.batchSize)
      .execute();
    for (const row of due) {
      // The lease: a node that dies mid-send leaves the row due again once it expires. Dated when
      // it is taken, not when the round began: behind a slow endpoint, a lease from the round's
      // start would have run out before its row was sent, and another node would send it too.
      const claimedUntil = this.deps.clock.now() + this.opts.timeoutMs + 30_000;
      const claim = await db
        .updateTable('webhook_outbox')
        .set({ next_attempt_at: claimedUntil, attempts: row.attempts + 1 })
        .where('id', '=', row.id)
        .where('next_attempt_at', '=', Number(row.next_attempt_at))
        .where('attempts', '=', row.attempts)
        .executeTakeFirst();
      if (Number(claim.numUpdatedRows) !== 1) {
        round.skipped++;
        continue;
      }
      const attempt = row.attempts + 1;
      const error = await this.send(row.id, row.payload);
      const at = this.deps.clock.now();
      // Only while the claim is still this node's: a row another node claimed since keeps its state.
      const ours = db.updateTable('webhook_outbox').where('id', '=', row.id).where('next_attempt_at', '=', claimedUntil).where('attempts', '=', attempt);
      if (error === undefined) {
        await ours.set({ delivered_at: at, next_attempt_at: null, last_error: null }).execute();
        round.delivered++;
        continue;
      }
      const giveUp = attempt >= this.opts.maxAttempts;
      const next = giveUp ? null : at + backoffDelay(attempt, this.opts.baseDelayMs, this.opts.maxDelayMs, this.deps.random);
      await ours.set({ next_attempt_at: next, last_error: error }).execute();
      if (giveUp) round.gaveUp++;
      else round.failed++;
      this.deps.logger.warn({ eventId: row.id, type: row.event_type, attempt, error, giveUp }, giveUp ? 'webhook given up' : 'webhook delivery failed; will retry');
    }
    return round;
  }

  /** Starts polling. */
  start(): void {
    this.poller.start();
  }

  /** New rows were committed: deliver now instead of at the next poll. */
  poke(): void {
    this.poller.poke();
  }

  /** Stops polling and waits for the round in progress. */
  stop(): Promise<void> {
    return this.poller.stop();
  }

  /** undefined on a 2xx; otherwise why not, in words safe to store and log (never the response body). */
  private async send(id: string, body: string): Promise<string | undefined> {
    const t = Math.floor(this.deps.clock.now() / 1000);
    try {
      const res = await fetch(this.deps.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'findguard-webhooks',
          [SIGNATURE_HEADER]: signWebhook(this.deps.secret, body, t),
          [EVENT_ID_HEADER]: id,
        },
        body,
        // A redirect could carry signed events to another host: treated as a failure instead.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      return describeError(err, this.opts.timeoutMs);
    }
  }
}

function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `timeout after ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err);
  return detail.slice(0, 200);
}
