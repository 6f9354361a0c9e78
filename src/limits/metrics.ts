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
    });
    this.calls = new Counter({
      name: 'findguard_discovery_calls_total',
      help: 'Discovery calls by the limits outcome: allowed, refused (429), challenged (428), unavailable (503, limits store down)',
      labelNames: ['operation', 'outcome', 'scope'],
      registers: [registry],
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
      if (l.outcome !== 'unchecked') this.decisions.inc({ layer: l.layer, outcome: l.outcome });
      if (l.nearLimit) this.decisions.inc({ layer: l.layer, outcome: 'near_limit' });
    }
    if (result.breakerShadowRefused) this.decisions.inc({ layer: 'breaker', outcome: 'shadow_refused' });
    if (result.outcome === 'refused' && result.layer === 'breaker') this.decisions.inc({ layer: 'breaker', outcome: 'refused' });
    const outcome = result.outcome === 'challenge' ? 'challenged' : result.outcome;
    this.calls.inc({ operation, outcome, scope: result.outcome === 'allowed' ? '' : (result.scope ?? '') });
    this.tripped.set(result.tripped ? 1 : 0);
  }

  unavailable(operation: string): void {
    this.storeErrors.inc();
    this.calls.inc({ operation, outcome: 'unavailable', scope: '' });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
