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
  private readonly pendingDecisions = new PendingCounts(['layer', 'outcome'] as const);
  private readonly pendingCalls = new PendingCounts(['operation', 'outcome', 'scope'] as const);
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

  private decision(layer: string, outcome: string): { inc(): void } {
    return this.pendingDecisions.of(layer, outcome);
  }

  private call(operation: string, outcome: string, scope: string): { inc(): void } {
    return this.pendingCalls.of(operation, outcome, scope);
  }

  /** A call the store never judged, refused because the caller's strikes kept changing its tier (limiter.ts, MAX_APPLIES). */
  refusedStaleStrikes(operation: string): void {
    this.call(operation, 'refused', 'account').inc();
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
  /** One map per label, in the order of `names`: no key text is built per count (eight per call). */
  private readonly root: Level = new Map();
  private readonly entries: Pending[] = [];

  constructor(private readonly names: readonly L[]) {}

  /**
   * The count of these label values, in the order of `names`: two or three labels here, passed as
   * parameters (a rest array would be allocated per count).
   */
  of(a: string, b: string, c?: string): { inc(): void } {
    const first = this.level(this.root, a);
    const found = c === undefined ? first.get(b) : this.level(first, b).get(c);
    return (found as Pending | undefined) ?? this.add(c === undefined ? [a, b] : [a, b, c]);
  }

  private level(parent: Level, key: string): Level {
    let next = parent.get(key) as Level | undefined;
    if (!next) parent.set(key, (next = new Map()));
    return next;
  }

  private add(values: readonly string[]): Pending {
    const labels: Record<string, string> = {};
    this.names.forEach((name, i) => (labels[name] = values[i]!));
    const e: Pending = { labels, n: 0, inc: () => void e.n++ };
    let level = this.root;
    for (let i = 0; i < values.length - 1; i++) level = this.level(level, values[i]!);
    level.set(values[values.length - 1]!, e);
    this.entries.push(e);
    return e;
  }

  flush(counter: Counter<L>): void {
    for (const e of this.entries) {
      if (e.n === 0) continue;
      counter.inc(e.labels as Partial<Record<L, string>>, e.n);
      e.n = 0;
    }
  }
}

interface Pending {
  labels: Record<string, string>;
  n: number;
  inc(): void;
}

type Level = Map<string, Level | Pending>;
