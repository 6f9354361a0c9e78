import { Counter, type Registry } from 'prom-client';

/** Prometheus metrics of the lookup-event pipeline, on the context's registry. No labels that name anyone. */
export class EventMetrics {
  private readonly droppedTotal: Counter;
  private readonly storedTotal: Counter;
  private readonly invalidTotal: Counter;

  constructor(registry: Registry) {
    this.droppedTotal = new Counter({
      name: 'findguard_events_dropped_total',
      help: 'Lookup events dropped before reaching the bus: the publish buffer was full (event bus unreachable for long) or the process closed with events unpublished',
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
  }

  dropped(n = 1): void {
    if (n > 0) this.droppedTotal.inc(n);
  }

  stored(n: number): void {
    if (n > 0) this.storedTotal.inc(n);
  }

  invalid(n: number): void {
    if (n > 0) this.invalidTotal.inc(n);
  }
}
