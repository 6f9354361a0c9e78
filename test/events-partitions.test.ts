import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUP } from '../src/abuse/redis-consumer.js';
import { partitionOf } from '../src/abuse/partitions.js';
import { GLOBAL_GROUP } from '../src/abuse/sharded.js';
import { HOUR, T0, Traffic, farmScene, importerScene, merge, organicScene, rangeScanScene, type Scene } from '../src/abuse/synthetic.js';
import { postgresAvailable } from './helpers/postgres.js';
import { killProcess, pollUntil, type Spawned } from './helpers/processes.js';
import { redisAvailable } from './helpers/redis.js';
import type { TestService } from './helpers/service.js';
import { startWorkerFleet, type WorkerFleet } from './helpers/worker-fleet.js';

/**
 * A partitioned deployment (FINDGUARD_EVENT_PARTITIONS=2) with `findguard worker` processes on
 * PostgreSQL and Redis. The engine's scenes (ordinary people, a coordinated range-scanning fleet,
 * an account farm, bulk importers; accounts on both partitions) are published by a serving node
 * while a first worker runs alone, a second joins (the partitions are rebalanced, one each), and
 * the first is SIGKILLed mid-stream (the second takes its partition and its pending entries,
 * rebuilds the partition's engine from the stored events, and takes the global stage over).
 * Every event is stored exactly once, no decision is recorded twice, the fleet spread over both
 * partitions is suspended as one campaign, and no ordinary account is acted on.
 */

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);
if ((!pgUp || !redisUp) && !requireServices) {
  console.warn(`\n*** events-partitions needs PostgreSQL (${pgUp ? 'up' : 'DOWN'}) and Redis (${redisUp ? 'up' : 'DOWN'}): SKIPPED (CI runs it) ***\n`);
}

const P = 2;

/** The engine's scenes, moved to now: a take-over replays the last day of stored events, as in production. */
function recentScenes(): { all: Scene; organic: Scene; fleet: Scene; farm: Scene; importer: Scene } {
  const t = new Traffic(61);
  const organic = organicScene(t, 3);
  const fleet = rangeScanScene(t, { accounts: 30, days: 3, callsPerDay: 4, outcome: 'refused' });
  const farm = farmScene(t, 40);
  const importer = importerScene(t);
  // Starting 20 hours ago (its later days in the future: event time is the events' own), so a
  // take-over's replay of the last day covers everything stored before it.
  const shift = Math.floor((Date.now() - 20 * HOUR - T0) / HOUR) * HOUR;
  for (const s of [organic, fleet, farm, importer]) {
    for (const e of s.events) {
      e.at += shift;
      e.accountCreatedAt += shift;
    }
    for (const sg of s.signups) sg.at += shift;
  }
  return { all: merge(organic, fleet, farm, importer), organic, fleet, farm, importer };
}

((pgUp && redisUp) || requireServices ? describe : describe.skip)('findguard worker, partitioned', () => {
  let deployment: WorkerFleet;
  let svc: TestService;
  let stream: string;
  let redis: WorkerFleet['redis'];

  beforeAll(async () => {
    if (!pgUp || !redisUp) throw new Error('FINDGUARD_REQUIRE_SERVICES=1 but PostgreSQL or Redis is not reachable');
    deployment = await startWorkerFleet('events-partitions', { partitions: P, workerEnv: { FINDGUARD_LOG_LEVEL: 'info' } });
    ({ svc, stream, redis } = deployment);
  }, 120_000);
  afterAll(async () => {
    await deployment?.close();
  });

  const startWorker = (name: string) => deployment.startWorker(name, ['--claim-idle', '1']);
  const holder = async (p: number) => redis.get(`${stream}:${p}:leader`);
  const logs = (w: Spawned, msg: string) =>
    w
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes(msg))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('rebalances when a worker joins and when one dies: no event lost, none stored twice, state rebuilt, the fleet one campaign', async () => {
    const { all, organic, fleet, farm, importer } = recentScenes();
    // Accounts on both partitions, each kind.
    for (const s of [organic, fleet, farm]) expect(new Set(s.accounts.map((id) => partitionOf(id, P)))).toEqual(new Set([0, 1]));
    // Every account mirrored, so an action on anyone would be recorded (an unknown account's is skipped).
    const created = new Map<string, number>();
    for (const e of all.events) if (!created.has(e.accountId)) created.set(e.accountId, e.accountCreatedAt);
    for (const sg of all.signups) if (!created.has(sg.accountId)) created.set(sg.accountId, sg.at);
    await svc.ctx.directory.putAccounts([...created].map(([accountId, createdAt]) => ({ accountId, account: { handle: `h_${accountId.replace(/[^a-z0-9]/gi, '')}`, createdAt }, points: [] })));

    let j = 0;
    let done = 0;
    const publish = async (upTo: number) => {
      const events = all.events.filter((e, i) => i >= done && i < upTo);
      for (const e of events) {
        while (j < all.signups.length && all.signups[j]!.at <= e.at) svc.ctx.events.emitSignup(all.signups[j++]!);
        svc.ctx.events.emit(e);
      }
      done = upTo;
      expect(await svc.ctx.events.flush()).toBe(true);
    };
    const n = all.events.length;

    const w1 = await startWorker('w1');
    expect(w1.stdout()).toContain(`consuming ${stream} in 2 partitions`);
    await pollUntil('w1 holds both partitions', async () => ((await holder(0)) === 'w1' && (await holder(1)) === 'w1' ? true : undefined), 20_000, 100);
    await publish(Math.floor(n * 0.4));

    // A second worker joins: w1 gives up its highest partition after acknowledging its batch; w2 takes it.
    const w2 = await startWorker('w2');
    await pollUntil('one partition each', async () => ((await holder(0)) === 'w1' && (await holder(1)) === 'w2' ? true : undefined), 30_000, 100).catch(async (err: unknown) => {
      console.error(`holders: ${await holder(0)} ${await holder(1)}\nw1:\n${w1.stdout().slice(-4000)}\n${w1.stderr().slice(-2000)}\nw2:\n${w2.stdout().slice(-4000)}\n${w2.stderr().slice(-2000)}`);
      throw err;
    });
    expect(logs(w1, 'gave up an event partition')).toEqual([expect.objectContaining({ partition: 1, consumer: 'w1' })]);
    await publish(Math.floor(n * 0.7));

    // w1 dies mid-stream: w2 takes partition 0 once its lease lapses, with w1's pending entries.
    await killProcess(w1);
    await publish(n);
    await pollUntil('w2 holds both partitions', async () => ((await holder(0)) === 'w2' && (await holder(1)) === 'w2' ? true : undefined), 30_000, 100);

    const stored = await pollUntil('every event stored', async () => {
      const ids = (await svc.ctx.db.kysely.selectFrom('lookup_events').select('id').execute()).map((r) => r.id);
      return ids.length >= n ? ids : undefined;
    }, 60_000, 250);
    expect(stored).toHaveLength(n);
    expect(new Set(stored).size).toBe(n);
    for (let p = 0; p < P; p++) await pollUntil(`partition ${p} acknowledged`, async () => ((await pending(`${stream}:${p}`, CONSUMER_GROUP)) === 0 ? true : undefined), 20_000, 200);
    await pollUntil('summaries acknowledged', async () => ((await pending(`${stream}:summaries`, GLOBAL_GROUP)) === 0 ? true : undefined), 20_000, 200);

    // State rebuilt: w2 replayed partition 0's stored events (only that partition's accounts) into a fresh engine.
    const resumed = logs(w2, 'partition engine resumed from stored events').filter((l) => l.partition === 0);
    expect(resumed.length).toBeGreaterThan(0);
    expect(Number(resumed[resumed.length - 1]!.events)).toBeGreaterThan(0);
    expect(Number(resumed[resumed.length - 1]!.events)).toBeLessThan(n);
    expect(await redis.get(`${stream}:summaries:leader`)).toBe('w2');

    // Decisions: the fleet over both partitions suspended as one cluster with one campaign; the importers on their own; nobody ordinary.
    const suspensions = await pollUntil('the fleet suspended', async () => {
      const rows = await svc.ctx.db.kysely.selectFrom('enforcement_actions').select(['account_id', 'action', 'cluster_id', 'campaign_id']).where('action', '=', 'suspend').execute();
      const fleetRows = rows.filter((r) => fleet.accounts.includes(r.account_id));
      return fleetRows.length >= fleet.accounts.length && importer.accounts.every((id) => rows.some((r) => r.account_id === id)) ? rows : undefined;
    }, 30_000, 500);
    const fleetRows = suspensions.filter((r) => fleet.accounts.includes(r.account_id));
    expect(new Set(fleetRows.map((r) => r.cluster_id)).size).toBe(1);
    expect(new Set(fleetRows.map((r) => r.campaign_id)).size).toBe(1);
    expect(fleetRows[0]!.campaign_id).not.toBeNull();
    const acted = await svc.ctx.db.kysely.selectFrom('enforcement_actions').select(['account_id', 'action']).execute();
    for (const id of organic.accounts) expect(acted.some((r) => r.account_id === id), id).toBe(false);
    expect(acted.some((r) => farm.accounts.includes(r.account_id))).toBe(true);
    // Idempotent across stages, take-overs and redeliveries: no account suspended twice.
    const perAccount = new Map<string, number>();
    for (const r of suspensions) perAccount.set(r.account_id, (perAccount.get(r.account_id) ?? 0) + 1);
    expect([...perAccount.values()].every((c) => c === 1)).toBe(true);
  }, 240_000);

  const pending = (key: string, group: string) => deployment.pending(key, group);
});
