import type { Logger } from 'pino';
import type { AlertRoute } from '../policy/index.js';
import { backoffDelay } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { post, targetOf, type SecretLookup } from './sinks.js';
import type { AlertStore } from './store.js';
import { Poller } from '../util/poller.js';

/**
 * Sends the alert deliveries (an outbox, as the webhooks' in src/incidents/webhooks.ts): each due
 * row is claimed with a conditional update before it is sent, so of N nodes delivering only one
 * sends each attempt; a failure waits util/backoff.ts's delay (with jitter) and a row that fails
 * `maxAttempts` times stays given up, with its last error, for the console to show.
 */
export interface AlertDelivererOptions {
  store: AlertStore;
  routes: () => readonly AlertRoute[];
  secret: SecretLookup;
  /** Names this node in Slack's context line and PagerDuty's `source`. */
  source: string;
  clock: Clock;
  random: Random;
  logger: Logger;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  pollMs?: number;
}

export interface AlertRound {
  delivered: number;
  failed: number;
  gaveUp: number;
  skipped: number;
}

export class AlertDeliverer {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly poller: Poller;

  constructor(private readonly deps: AlertDelivererOptions) {
    this.maxAttempts = deps.maxAttempts ?? 8;
    this.baseDelayMs = deps.baseDelayMs ?? 10_000;
    this.maxDelayMs = deps.maxDelayMs ?? 15 * 60_000;
    this.timeoutMs = deps.timeoutMs ?? 10_000;
    const pollMs = deps.pollMs ?? 2_000;
    this.poller = new Poller({
      round: async () => {
        const r = await this.deliverDue();
        return r.delivered + r.failed + r.gaveUp + r.skipped >= 50;
      },
      intervalMs: () => pollMs,
      onError: (err) => deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'alert outbox poll failed'),
    });
  }

  /** One round over the due deliveries, oldest first. */
  async deliverDue(limit = 50): Promise<AlertRound> {
    const round: AlertRound = { delivered: 0, failed: 0, gaveUp: 0, skipped: 0 };
    const db = this.deps.store.db;
    const now = this.deps.clock.now();
    const due = await db.selectFrom('alert_deliveries').selectAll().where('next_attempt_at', '<=', now).orderBy('id').limit(limit).execute();
    for (const row of due) {
      const claim = await db
        .updateTable('alert_deliveries')
        .set({ next_attempt_at: now + this.timeoutMs + 30_000, attempts: row.attempts + 1 })
        .where('id', '=', row.id)
        .where('next_attempt_at', '=', Number(row.next_attempt_at))
        .where('attempts', '=', row.attempts)
        .executeTakeFirst();
      if (Number(claim.numUpdatedRows) !== 1) {
        round.skipped++;
        continue;
      }
      const attempt = row.attempts + 1;
      const error = await this.send(row.alert_id, row.route, row.sink);
      const at = this.deps.clock.now();
      if (error === undefined) {
        await db.updateTable('alert_deliveries').set({ delivered_at: at, next_attempt_at: null, last_error: null }).where('id', '=', row.id).execute();
        round.delivered++;
        continue;
      }
      const giveUp = attempt >= this.maxAttempts;
      const next = giveUp ? null : at + backoffDelay(attempt, this.baseDelayMs, this.maxDelayMs, this.deps.random);
      await db.updateTable('alert_deliveries').set({ next_attempt_at: next, last_error: error.slice(0, 300) }).where('id', '=', row.id).execute();
      if (giveUp) round.gaveUp++;
      else round.failed++;
      this.deps.logger.warn({ alertId: row.alert_id, route: row.route, sink: row.sink, attempt, error, giveUp }, giveUp ? 'alert delivery given up' : 'alert delivery failed; will retry');
    }
    return round;
  }

  private async send(alertId: string, routeName: string, sink: 'slack' | 'pagerduty'): Promise<string | undefined> {
    const alert = await this.deps.store.alert(alertId);
    if (!alert) return 'alert not found';
    const route = this.deps.routes().find((r) => r.name === routeName);
    if (!route) return `route ${routeName} is no longer configured`;
    const target = targetOf(route, sink, alert, this.deps.secret, this.deps.source);
    if (typeof target === 'string') return target;
    return post(target, this.timeoutMs);
  }

  start(): void {
    this.poller.start();
  }

  /** New deliveries were committed: send now rather than at the next poll. */
  poke(): void {
    this.poller.poke();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }
}
