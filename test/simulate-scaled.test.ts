import { expect, it } from 'vitest';
import { loadIpIntel } from '../src/net/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { InProcessDriver, ipSourceFrom, runScenario, ScaledOutDriver, type SimulationResult } from '../src/simulate/index.js';
import { PG_ADMIN_URL } from './helpers/postgres.js';
import { describeRedis, REDIS_URL } from './helpers/redis.js';
import { shrunk } from './helpers/scenarios.js';

/**
 * The simulator's figures must be true of the deployment operators run: the same scenario,
 * replayed in one process and scaled out (two serving nodes and a worker, sharing only PostgreSQL
 * and Redis, events through the stream, decisions through the table and its notices; the engine in
 * one stream, then partitioned in two with its global stage), gives the same exposure and
 * containment within a point.
 */

const headline = (r: SimulationResult) =>
  r.attackers.map((a) => ({ exposure: a.exposure, contained: a.containment.contained, minutes: a.containment.minutes }));

describeRedis('the simulator scaled out', () => {
  // leaked-list takes ten minutes both ways: npm run bench:scaled compares it (README, BENCHMARKS).
  for (const name of ['twitter-2019', 'account-farm'] as const) {
    it(`${name}: the same exposure and containment in one process, on two nodes and a worker, and with the engine in two partitions`, async () => {
      const ips = ipSourceFrom(await loadIpIntel());
      const policy = loadPolicy('default');
      const spec = shrunk(name);
      const embedded = (await runScenario(spec, ips, (w) => InProcessDriver.create(w, { policy }))).result;
      const a = headline(embedded);
      for (const partitions of [1, 2]) {
        const scaled = (await runScenario(spec, ips, (w) => ScaledOutDriver.create(w, { postgresUrl: PG_ADMIN_URL, redisUrl: REDIS_URL, policy, partitions }))).result;
        const b = headline(scaled);
        const label = `${name}, ${partitions} partition(s)`;
        expect(b.length, label).toBe(a.length);
        for (let i = 0; i < a.length; i++) {
          expect(Math.abs(b[i]!.exposure - a[i]!.exposure), label).toBeLessThanOrEqual(0.01);
          expect(b[i]!.contained, label).toBe(a[i]!.contained);
          if (a[i]!.minutes !== null && b[i]!.minutes !== null) expect(Math.abs(b[i]!.minutes! - a[i]!.minutes!), label).toBeLessThanOrEqual(2);
        }
        expect(scaled.organic, label).toEqual(embedded.organic);
        // "My contacts" users: the same on both, and never exposed outside their books.
        expect(scaled.contactsMode, label).toEqual(embedded.contactsMode);
        expect(scaled.contactsMode!.exposedOutsideBook, label).toBe(0);
      }
    }, 900_000);
  }
});
