import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { AnswersPolicy } from '../policy/index.js';
import { OutageLog, errorText } from '../util/outage.js';
import { regionCallingCode } from './features/blocks.js';

/** How often a serving node reads the table again (clock time). */
const REFRESH_MS = 60_000;
/** How often the engine writes it (event time): the rates move over hours, not minutes. */
const PUBLISH_MS = 10 * 60_000;
const ALL = '*';
/** Countries per upsert: 800 parameters, well under either database's bound. */
const PUBLISH_CHUNK = 200;

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
  /** The same rates summed by calling code (+1 is 25 regions' books): what a number's own code says. */
  private byCode = new Map<string, { numbers: number; matched: number }>();
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

  /**
   * The rate books of a calling code's countries hit at ("44" -> Britain's), for numbers of that
   * code in someone else's book (below-book.ts). The code's own once its regions' books rest on
   * `minBaselineNumbers` together; with fewer, down to a tenth of that, its own numbers and the
   * population's rate standing in for the rest (a country half learned is half its own); with fewer
   * still, undefined: a country whose books were hardly seen is one where the app has few users, and
   * what its numbers should hit is not known (the population's rate there refused a border
   * resident's book, half of it Guatemalan numbers where the app had no one).
   */
  rateOfCode(callingCode: string): number | undefined {
    const min = this.policy?.minBaselineNumbers ?? 1;
    const own = this.byCode.get(callingCode);
    if (!own || own.numbers < min / 10) return undefined;
    if (own.numbers >= min) return own.matched / own.numbers;
    return (own.matched + (min - own.numbers) * this.rate(undefined)) / min;
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
      const byCode = new Map<string, { numbers: number; matched: number }>();
      for (const r of rows) {
        const rate = { country: r.country, numbers: Number(r.numbers), matched: Number(r.matched) };
        next.set(r.country, rate);
        const cc = r.country === ALL ? undefined : regionCallingCode(r.country);
        if (cc === undefined) continue;
        const sum = byCode.get(cc) ?? { numbers: 0, matched: 0 };
        sum.numbers += rate.numbers;
        sum.matched += rate.matched;
        byCode.set(cc, sum);
      }
      this.rates = next;
      this.byCode = byCode;
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
    // One statement per 200 countries: a statement per country was a commit each on SQLite, 2% of
    // the simulator's main thread (34,000 upserts over a 20,000-account week).
    for (let i = 0; i < rates.length; i += PUBLISH_CHUNK) {
      const rows = rates.slice(i, i + PUBLISH_CHUNK).map((r) => ({ country: r.country, numbers: r.numbers, matched: r.matched, updated_at: now }));
      await this.db
        .insertInto('hit_rates')
        .values(rows)
        .onConflict((oc) =>
          oc.column('country').doUpdateSet((eb) => ({
            numbers: eb.ref('excluded.numbers'),
            matched: eb.ref('excluded.matched'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
  }
}
