import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApplyResult } from './store.js';

/**
 * Prometheus metrics of the limits, on the context's own registry (never prom-client's global
 * one, so several services in one process, as in tests, do not collide). Labels are layer ids,
 * scopes and outcomes only: no account ids, addresses or numbers.
 */
export class LimitMetrics {
  readonly registry: Registry;
  private readonly decisions: Counter<'layer' | 'outcome'>;
  private readonly calls: Counter<'operation' | 'outcome' | 'scope'>;
  private readonly tripped: Gauge;
  private readonly storeErrors: Counter;
  private readonly pendingDecisions = new PendingCounts<'layer' | 'outcome'>();
  private readonly pendingCalls = new PendingCounts<'operation' | 'outcome' | 'scope'>();
  private readonly decisionEntries = new Map<string, Map<string, { inc(): void }>>();
  private readonly callEntries = new Map<string, Map<string, Map<string, { inc(): void }>>>();
  private lastTripped = -1;

  constructor(registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: registry, prefix: 'findguard_' });
      // prom-client's totals of active handles, requests and resources are gauges named _total,
      // which Prometheus reads as counters (promtool check metrics refuses them); the same counts
      // by type stay (findguard_nodejs_active_handles etc.).
      for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`findguard_nodejs_active_${kind}_total`);
    }
    this.decisions = new Counter({
      name: 'findguard_limit_decisions_total',
      help: 'Per-layer results of discovery calls: allowed, refused, shadow_refused (would have refused; layer in shadow mode) and near_limit (allowed with under 20% of the bucket left)',
      labelNames: ['layer', 'outcome'],
      registers: [registry],
      collect: () => this.pendingDecisions.flush(this.decisions),
    });
    this.calls = new Counter({
      name: 'findguard_discovery_calls_total',
      help: 'Discovery calls by the limits outcome: allowed, refused (429), challenged (428), unavailable (503, limits store down)',
      labelNames: ['operation', 'outcome', 'scope'],
      registers: [registry],
      collect: () => this.pendingCalls.flush(this.calls),
    });
    this.tripped = new Gauge({
      name: 'findguard_breaker_tripped',
      help: '1 while the global breaker is tripped, as last seen by this node',
      registers: [registry],
    });
    this.storeErrors = new Counter({
      name: 'findguard_limit_store_errors_total',
      help: 'Calls the limits store could not decide (store unreachable or failing)',
      registers: [registry],
    });
  }

  record(operation: string, result: ApplyResult): void {
    for (const l of result.layers) {
      if (l.outcome !== 'unchecked') this.decision(l.layer, l.outcome).inc();
      if (l.nearLimit) this.decision(l.layer, 'near_limit').inc();
    }
    if (result.breakerShadowRefused) this.decision('breaker', 'shadow_refused').inc();
    if (result.outcome === 'refused' && result.layer === 'breaker') this.decision('breaker', 'refused').inc();
    const outcome = result.outcome === 'challenge' ? 'challenged' : result.outcome;
    this.call(operation, outcome, result.outcome === 'allowed' ? '' : (result.scope ?? '')).inc();
    const tripped = result.tripped ? 1 : 0;
    if (tripped !== this.lastTripped) {
      this.lastTripped = tripped;
      this.tripped.set(tripped);
    }
  }

  /** Found by label values in nested maps: no key text is built per count (eight per call). */
  private decision(layer: string, outcome: string): { inc(): void } {
    const byOutcome = inner(this.decisionEntries, layer);
    let e = byOutcome.get(outcome);
    if (!e) byOutcome.set(outcome, (e = this.pendingDecisions.of(`${layer}\u0000${outcome}`, () => ({ layer, outcome }))));
    return e;
  }

  private call(operation: string, outcome: string, scope: string): { inc(): void } {
    const byScope = inner(inner(this.callEntries, operation), outcome);
    let e = byScope.get(scope);
    if (!e) byScope.set(scope, (e = this.pendingCalls.of(`${operation}\u0000${outcome}\u0000${scope}`, () => ({ operation, outcome, scope }))));
    return e;
  }

  unavailable(operation: string): void {
    this.storeErrors.inc();
    this.call(operation, 'unavailable', '').inc();
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Counts per label set kept as plain numbers and added to the prom-client counter when it is
 * collected (a scrape). prom-client's inc() with labels hashes them (sorted keys joined into a
 * string) and validates them on every call, and labels() only binds that same inc; the limits
 * count nine per discovery call. The label values are layer ids, operations, outcomes and
 * scopes: a small, fixed set, so the map stays small.
 */
class PendingCounts<L extends string> {
  private readonly counts = new Map<string, { labels: Partial<Record<L, string>>; n: number; inc(): void }>();

  of(key: string, labels: () => Partial<Record<L, string>>): { inc(): void } {
    let entry = this.counts.get(key);
    if (!entry) {
      const e = { labels: labels(), n: 0, inc: () => void e.n++ };
      this.counts.set(key, (entry = e));
    }
    return entry;
  }

  flush(counter: Counter<L>): void {
    for (const e of this.counts.values()) {
      if (e.n === 0) continue;
      counter.inc(e.labels, e.n);
      e.n = 0;
    }
  }
}

function inner<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = outer.get(key);
  if (!m) outer.set(key, (m = new Map()));
  return m;
}
