/**
 * The simulator's figures in one process against the same replay scaled out (two serving nodes
 * and a worker on PostgreSQL and Redis), for the three scenarios the scaled-out issue names, on
 * shrunk worlds (1,500 accounts, seed 7, 2-3 days, at most 40 attacker accounts). Needs the local
 * PostgreSQL and Redis (FINDGUARD_TEST_PG_URL, FINDGUARD_TEST_REDIS_URL to point elsewhere).
 */
import { loadIpIntel } from '../src/net/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { InProcessDriver, ipSourceFrom, runScenario, ScaledOutDriver, type SimulationResult } from '../src/simulate/index.js';
import { PG_ADMIN_URL } from '../test/helpers/postgres.js';
import { REDIS_URL } from '../test/helpers/redis.js';
import { shrunk } from '../test/helpers/scenarios.js';

const ips = ipSourceFrom(await loadIpIntel());
const policy = loadPolicy('default');
const row = (r: SimulationResult, seconds: number) => {
  const a = r.attackers[0]!;
  return `exposure ${(a.exposure * 100).toFixed(2)}%, contained ${a.containment.contained ? `yes (${a.containment.minutes} min)` : 'no'}, organic syncs refused ${r.organic.syncsRefused}, organic suspended ${r.organic.accountsSuspended}, ${seconds.toFixed(0)} s`;
};
for (const name of ['twitter-2019', 'account-farm', 'leaked-list'] as const) {
  const spec = shrunk(name);
  let t = Date.now();
  const embedded = (await runScenario(spec, ips, (w) => InProcessDriver.create(w, { policy }))).result;
  const te = (Date.now() - t) / 1000;
  t = Date.now();
  const scaled = (await runScenario(spec, ips, (w) => ScaledOutDriver.create(w, { postgresUrl: PG_ADMIN_URL, redisUrl: REDIS_URL, policy }))).result;
  const ts = (Date.now() - t) / 1000;
  console.log(`${name}\n  in one process: ${row(embedded, te)}\n  scaled out:     ${row(scaled, ts)}`);
}
