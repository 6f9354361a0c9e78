import { DEFAULT_POLICY, type Policy } from '../src/policy/index.js';

/**
 * The default policy with every budget out of reach, for the benchmarks: every layer, tier and
 * the breaker are evaluated and charged, nothing is refused, so what is measured is the limits'
 * cost, not their effect. The engine's real-time rules watch without refusing: the benchmarks'
 * address books span every country.
 */
export function unreachable(): Policy {
  const p = structuredClone(DEFAULT_POLICY);
  for (const layer of p.layers) {
    for (const tier of Object.keys(layer.limits)) layer.limits[tier] = { burst: 1e12, refill: 1e12, per: '1d' };
  }
  if (p.breaker) p.breaker.minimum = 1e15;
  if (p.abuse) p.abuse = { ...p.abuse, mode: 'shadow' };
  return p;
}
