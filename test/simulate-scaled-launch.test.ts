import { expect, it } from 'vitest';
import { loadIpIntel } from '../src/net/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { BUILT_IN_SCENARIOS, InProcessDriver, ipSourceFrom, runScenario, ScaledOutDriver } from '../src/simulate/index.js';
import { PG_ADMIN_URL } from './helpers/postgres.js';
import { describeRedis, REDIS_URL } from './helpers/redis.js';

/**
 * A launch behind carrier NAT, scaled out: Mexico's users join within a few hours through a handful
 * of carrier addresses the engine has never seen. With two serving nodes and a worker, and with the
 * engine in two partitions and its global stage, no first sync is refused and the organic figures
 * are the ones one process gives. At this size the farming detector's old reading of such bursts
 * refused nothing either: the cold-address cap itself is proven in src/abuse/detectors/farming.test.ts
 * and test/review/launch-carrier-nat.test.ts; this test holds the deployments to one answer.
 */
describeRedis('a launch behind carrier NAT scaled out', () => {
  it('refuses no first sync, on one process, on two nodes and a worker, and with the engine in two partitions', async () => {
    const ips = ipSourceFrom(await loadIpIntel());
    const policy = loadPolicy('default');
    const base = BUILT_IN_SCENARIOS['launch-day']!();
    const spec = {
      ...base,
      seed: 7,
      days: 1,
      population: { ...base.population, accounts: 1500 },
      organic: { ...base.organic, maxSyncsPerDay: 40, maxLookupsPerDay: 40, surge: { country: 'MX', startDay: 0.1, overDays: 0.2 } },
    };
    const embedded = (await runScenario(spec, ips, (w) => InProcessDriver.create(w, { policy }))).result;
    const surge = embedded.organic.surge!;
    expect(surge.firstSyncs).toBeGreaterThan(40);
    expect(surge.firstSyncsRefused).toBe(0);
    for (const partitions of [1, 2]) {
      const scaled = (await runScenario(spec, ips, (w) => ScaledOutDriver.create(w, { postgresUrl: PG_ADMIN_URL, redisUrl: REDIS_URL, policy, partitions }))).result;
      expect(scaled.organic, `${partitions} partition(s)`).toEqual(embedded.organic);
    }
  }, 900_000);
});
