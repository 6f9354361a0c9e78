import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { AnswersPolicy } from '../policy/index.js';
import { OutageLog, errorText } from '../util/outage.js';

/** How often a serving node reads the table again (clock time). */
const REFRESH_MS = 60_000;
/** How often the engine writes it (event time): the rates move over hours, not minutes. */
const PUBLISH_MS = 10 * 60_000;
const ALL = '*';

export interface CountryRate {
  country: string;
  numbers: number;
  matched: number;
}

/**
 * Each country's address-book hit rate, from the engine that learns it (the event consumer, in
 * the worker) to every serving node that judges a sync's answers: through table hit_rates, so
 * every node judges by the same rates whichever consumer learned them, and a restart loses
 * nothing. A node reads the table once a minute of its clock; a failed read keeps what it had
 * (the rates move slowly, and the policy's prior stands before the first read).
 */
export class HitRates {
  private rates = new Map<string, CountryRate>();
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | undefined;
  private publishedAt = Number.NEGATIVE_INFINITY;
  private readonly outage: OutageLog;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly policy: AnswersPolicy | undefined,
    logger: Logger,
  ) {
    this.outage = new OutageLog({
      down: (err) => logger.warn({ err: errorText(err) }, 'hit rates unreadable: keeping the last ones read'),
      up: () => logger.info('hit rates readable again'),
    });
  }

  /** The rate a book of `country` hits at, as last read: the country's, else all countries', else the prior. */
  rate(country: string | undefined): number {
    const min = this.policy?.minBaselineNumbers ?? 1;
    const own = country !== undefined ? this.rates.get(country) : undefined;
    if (own && own.numbers >= min) return own.matched / own.numbers;
    const all = this.rates.get(ALL);
    if (all && all.numbers >= min) return all.matched / all.numbers;
    return this.policy?.prior ?? 0;
  }

  /** Reads the table again if the last read is a minute old; concurrent callers share one read. */
  async fresh(now: number): Promise<void> {
    if (now - this.readAt < REFRESH_MS) return;
    this.reading ??= this.read(now).finally(() => {
      this.reading = undefined;
    });
    await this.reading;
  }

  private async read(now: number): Promise<void> {
    try {
      const rows = await this.db.selectFrom('hit_rates').select(['country', 'numbers', 'matched']).execute();
      const next = new Map<string, CountryRate>();
      for (const r of rows) next.set(r.country, { country: r.country, numbers: Number(r.numbers), matched: Number(r.matched) });
      this.rates = next;
      this.outage.ok();
    } catch (err) {
      this.outage.failed(err);
    }
    this.readAt = now;
  }

  /** Writes the engine's rates, at most every ten minutes of event time. */
  async publish(rates: readonly CountryRate[], now: number): Promise<void> {
    if (now - this.publishedAt < PUBLISH_MS) return;
    this.publishedAt = now;
    for (const r of rates) {
      const values = { numbers: r.numbers, matched: r.matched, updated_at: now };
      await this.db
        .insertInto('hit_rates')
        .values({ country: r.country, ...values })
        .onConflict((oc) => oc.column('country').doUpdateSet(values))
        .execute();
    }
  }
}
