import { Counter, Gauge, type Registry } from 'prom-client';

/** Prometheus metrics of the lookup-event pipeline, on the context's registry. No labels that name anyone. */
export class EventMetrics {
  private readonly droppedTotal: Counter;
  private readonly failedClosedTotal: Counter;
  private readonly storedTotal: Counter;
  private readonly invalidTotal: Counter;
  private readonly lostTotal: Counter;
  private readonly leading: Gauge;
  private readonly lag: Gauge;
  private readonly pending: Gauge;
  private newestHandled: number | undefined;

  /** `now` (epoch ms) dates how far behind the engine is; without it that gauge is not kept. */
  constructor(registry: Registry, now?: () => number) {
    this.droppedTotal = new Counter({
      name: 'findguard_events_dropped_total',
      help: 'Lookup events dropped before reaching the bus: the publish buffer was full (event bus unreachable for long) or the process closed with events unpublished',
      registers: [registry],
    });
    this.failedClosedTotal = new Counter({
      name: 'findguard_events_failed_closed_total',
      help: 'Discovery calls the limits allowed that answered 503 instead, revealing nothing: their lookup event could not be made durable (event store or stream failing or not answering, buffer full)',
      registers: [registry],
    });
    this.storedTotal = new Counter({
      name: 'findguard_events_stored_total',
      help: 'Lookup events stored for the abuse engine (redeliveries of stored events not counted)',
      registers: [registry],
    });
    this.invalidTotal = new Counter({
      name: 'findguard_events_invalid_total',
      help: 'Stream entries that were not valid lookup events, acknowledged and skipped',
      registers: [registry],
    });
    this.lostTotal = new Counter({
      name: 'findguard_events_lost_total',
      help: 'Lookup events the Redis stream dropped (its length cap) before the consumer group read them: the abuse engine and the exposure records never saw them',
      registers: [registry],
    });
    // A worker's health: one consumer leads, and it must keep up with the fleet's traffic.
    this.leading = new Gauge({
      name: 'findguard_events_consumer_leading',
      help: 'Whether this process holds the event consumer lease (1) or stands by (0)',
      registers: [registry],
    });
    this.lag = new Gauge({
      name: 'findguard_events_stream_lag',
      help: 'Lookup events in the Redis stream that the consumer group has not read yet (as of the last check, every few seconds)',
      registers: [registry],
    });
    this.pending = new Gauge({
      name: 'findguard_events_stream_pending',
      help: 'Lookup events the consumer group has read and not yet acknowledged (as of the last check)',
      registers: [registry],
    });
    if (now) {
      const newest = () => this.newestHandled;
      new Gauge({
        name: 'findguard_events_behind_seconds',
        help: 'Seconds between now and the newest lookup event handed to the abuse engine: how far behind live traffic the engine is',
        registers: [registry],
        collect() {
          const at = newest();
          if (at !== undefined) this.set(Math.max(0, (now() - at) / 1000));
        },
      });
    }
  }

  consumerLeading(leading: boolean): void {
    this.leading.set(leading ? 1 : 0);
  }

  stream(lag: number | undefined, pending: number): void {
    if (lag !== undefined) this.lag.set(lag);
    this.pending.set(pending);
  }

  /** The engine was handed events up to this time. */
  handled(at: number): void {
    if (this.newestHandled === undefined || at > this.newestHandled) this.newestHandled = at;
  }

  dropped(n = 1): void {
    if (n > 0) this.droppedTotal.inc(n);
  }

  failedClosed(n = 1): void {
    if (n > 0) this.failedClosedTotal.inc(n);
  }

  stored(n: number): void {
    if (n > 0) this.storedTotal.inc(n);
  }

  lost(n: number): void {
    if (n > 0) this.lostTotal.inc(n);
  }

  invalid(n: number): void {
    if (n > 0) this.invalidTotal.inc(n);
  }
}
