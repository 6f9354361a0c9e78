import { BUILT_IN_SCENARIOS } from '../../src/simulate/index.js';
import type { ScenarioSpec } from '../../src/simulate/scenario.js';

/** A built-in scenario shrunk to a minute or two: 1,500 accounts, seed 7, 2 days (3 for leaked-list), at most 40 attacker accounts. */
export function shrunk(name: 'twitter-2019' | 'account-farm' | 'leaked-list'): ScenarioSpec {
  const spec = BUILT_IN_SCENARIOS[name]!();
  return {
    ...spec,
    seed: 7,
    days: name === 'leaked-list' ? 3 : 2,
    population: { ...spec.population, accounts: 1500 },
    organic: { ...spec.organic, maxSyncsPerDay: 40, maxLookupsPerDay: 40 },
    attackers: spec.attackers.map((a) => ({ ...a, accounts: Math.min(a.accounts, 40), startDay: 0.2, createdOverDays: 0.1 })),
  };
}
