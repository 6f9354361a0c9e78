import { sql, type Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { Database } from '../db/schema.js';
import type { Clock } from '../util/clock.js';

/**
 * The overview's time series. Every discovery call the limits decided is a stored lookup event
 * (allowed, refused with its scope, challenged), written by whichever node answered it, so the
 * series are aggregated from lookup_events: exact across N serve nodes, with no second write on
 * the request path. What only a process knows (the breaker as it last saw it, how far behind its
 * engine is, events its stream dropped) comes from this process's Prometheus registry.
 */

export const WINDOWS = { hour: { span: 3_600_000, step: 60_000 }, day: { span: 86_400_000, step: 900_000 }, week: { span: 7 * 86_400_000, step: 3_600_000 } } as const;
export type OverviewWindow = keyof typeof WINDOWS;

/**
 * Refusals by the layer that made them, as far as an event tells: the global breaker (scope
 * global) or a limit layer of another scope. Which policy layer id refused is not stored in the
 * event (the 429 names its scope only), so finer layers are not shown rather than guessed.
 */
export const REFUSAL_LAYERS = ['limits', 'breaker'] as const;

export interface Overview {
  window: OverviewWindow;
  stepMs: number;
  series: {
    /** Bucket starts, epoch ms. */
    t: number[];
    calls: number[];
    newNumbers: number[];
    refusalsByLayer: Record<string, number[]>;
    refusalsByScope: Record<string, number[]>;
    challenges: number[];
  };
  /** As this node last saw it: null before its first call. */
  breaker: { tripped: boolean | null };
  engine: {
    /** Seconds the engine in this process is behind live traffic; null where no engine runs here. */
    lag: number | null;
    /** Seconds since the newest stored lookup event (any node's): how fresh what the engine has stored is. */
    newestEventAgeSeconds: number | null;
    /** Events dropped before the bus or lost by the stream, as counted by this process. */
    eventsLost: number;
  };
  openCampaigns: number;
}

export class OverviewReader {
  constructor(private readonly deps: { db: Kysely<Database>; clock: Clock; registry: Registry }) {}

  async read(window: OverviewWindow): Promise<Overview> {
    const { span, step } = WINDOWS[window];
    const now = this.deps.clock.now();
    const first = Math.floor((now - span) / step) * step + step;
    const n = Math.floor((now - first) / step) + 1;
    const t = Array.from({ length: n }, (_, i) => first + i * step);
    const zeros = () => new Array<number>(n).fill(0);
    const calls = zeros();
    const newNumbers = zeros();
    const challenges = zeros();
    const byLayer: Record<string, number[]> = Object.fromEntries(REFUSAL_LAYERS.map((l) => [l, zeros()]));
    const byScope: Record<string, number[]> = {};

    // Integer division gives the bucket in both dialects (bigint / integer in PostgreSQL).
    const bucket = sql<number>`(at - ${sql.lit(first)}) / ${sql.lit(step)}`;
    const rows = await this.deps.db
      .selectFrom('lookup_events')
      .select([bucket.as('b'), 'outcome', 'scope', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.sum<number>('new_numbers').as('nn')])
      .where('at', '>=', first)
      .where('at', '<', first + n * step)
      .groupBy([bucket, 'outcome', 'scope'])
      .execute();
    for (const r of rows) {
      const i = Number(r.b);
      if (!(i >= 0 && i < n)) continue;
      const count = Number(r.n);
      calls[i]! += count;
      if (r.outcome === 'allowed') newNumbers[i]! += Number(r.nn ?? 0);
      else if (r.outcome === 'challenged') challenges[i]! += count;
      else if (r.outcome === 'refused') {
        const scope = r.scope ?? 'unknown';
        (byScope[scope] ??= zeros())[i]! += count;
        byLayer[scope === 'global' ? 'breaker' : 'limits']![i]! += count;
      }
    }

    const newest = await this.deps.db.selectFrom('lookup_events').select((eb) => eb.fn.max('at').as('at')).executeTakeFirst();
    const open = await this.deps.db.selectFrom('campaigns').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'open').executeTakeFirst();
    const tripped = await this.value('findguard_breaker_tripped');
    const lag = await this.value('findguard_events_behind_seconds');
    const lost = ((await this.value('findguard_events_lost_total')) ?? 0) + ((await this.value('findguard_events_dropped_total')) ?? 0);
    return {
      window,
      stepMs: step,
      series: { t, calls, newNumbers, refusalsByLayer: byLayer, refusalsByScope: byScope, challenges },
      breaker: { tripped: tripped === undefined ? null : tripped > 0 },
      engine: {
        lag: lag ?? null,
        newestEventAgeSeconds: newest?.at == null ? null : Math.max(0, (now - Number(newest.at)) / 1000),
        eventsLost: lost,
      },
      openCampaigns: Number(open?.n ?? 0),
    };
  }

  /** The sum of a metric's values in this process's registry; undefined when it has none. */
  private async value(name: string): Promise<number | undefined> {
    const metric = this.deps.registry.getSingleMetric(name);
    if (!metric) return undefined;
    const { values } = await metric.get();
    if (values.length === 0) return undefined;
    return values.reduce((s, v) => s + v.value, 0);
  }
}
