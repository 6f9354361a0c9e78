import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { Clock } from '../util/clock.js';

const DAY_MS = 86_400_000;
/** Rows per DELETE, so a large backlog never holds a long lock. */
const DELETE_CHUNK = 10_000;

export interface EventRetentionDeps {
  db: Kysely<Database>;
  clock: Clock;
  logger: Logger;
  /** FINDGUARD_EVENT_RETENTION_DAYS. */
  days: number;
  /**
   * Other records past their own retention, purged on the same schedule (expired exposure notices:
   * they were emptied only when a later incident notified, so a notice outlived its 365 days for as
   * long as no other incident did). Each returns how many it purged.
   */
  purges?: ReadonlyArray<{ what: string; run: () => Promise<number> }>;
}

/**
 * Deletes lookup events older than the retention period (DESIGN §2, default 90 days). Runs where
 * events are consumed; several workers running it at once only repeat idempotent deletes.
 */
export class EventRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly deps: EventRetentionDeps) {}

  /** Deletes every event older than the retention period, as of the injected clock, then runs the other purges; returns the events deleted. */
  async run(): Promise<number> {
    const { db, clock, days } = this.deps;
    const cutoff = clock.now() - days * DAY_MS;
    let total = 0;
    for (;;) {
      const oldest = db.selectFrom('lookup_events').select('id').where('at', '<', cutoff).limit(DELETE_CHUNK);
      const result = await db.deleteFrom('lookup_events').where('id', 'in', oldest).executeTakeFirst();
      const n = Number(result.numDeletedRows);
      total += n;
      if (n < DELETE_CHUNK) break;
    }
    for (const p of this.deps.purges ?? []) {
      const purged = await p.run();
      if (purged > 0) this.deps.logger.info({ purged, what: p.what }, 'purged records past retention');
    }
    return total;
  }

  /** Runs every intervalMs (real time; the cutoff follows the injected clock), first after firstMs. */
  start(intervalMs = 3_600_000, firstMs = 60_000): void {
    if (this.timer) return;
    const tick = (): void => {
      this.running ??= this.run()
        .then((n) => {
          if (n > 0) this.deps.logger.info({ deleted: n, days: this.deps.days }, 'deleted lookup events past retention');
          return n;
        })
        .catch((err: unknown) => {
          this.deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'lookup event retention failed; retrying next time');
          return 0;
        })
        .finally(() => (this.running = undefined));
      this.timer = setTimeout(tick, intervalMs);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, firstMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
