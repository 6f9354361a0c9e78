import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../../src/config/config.js';
import { createWorkerContext, type WorkerContext } from '../../src/context.js';
import { resetEpoch } from '../../src/limits/redis-epoch.js';
import { createRedisLimitStore } from '../../src/limits/redis-store.js';
import { createLogger } from '../../src/logger.js';
import { lookup, mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { postgresAvailable } from '../helpers/postgres.js';
import { freePort, killProcess, pollUntil, redisServerAvailable, startRedisServer, type Spawned } from '../helpers/processes.js';
import { HASH_KEYS, JWT_SECRET, LogCapture, SERVICE_KEY, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review ("Redis FLUSHALL/restart mid-run: ... event streams and consumer groups"): an answered
 * call's event is "durable" once Redis acknowledged its XADD, and the call is answered. A Redis
 * that comes back empty (a restart without persistence, as this machine's; a failover to a replica
 * the last writes had not reached: replication is asynchronous; a FLUSHALL) loses every event no
 * worker had read: those answers never reach lookup_events, so no exposure record, no campaign
 * evidence, no late-exposure check. The README documents that a non-persisting Redis forgets
 * "unread lookup events" (one error line at each process's start), and promises for the other way
 * events go missing (the stream's length cap) that "the next worker to read counts them
 * (findguard_events_lost_total) and logs an error with how many there were and the window they
 * were published in: exposures from that window are incomplete". A reset gets neither: the worker
 * finds no group, creates one at the stream's start, and carries on; nothing is counted, nothing
 * says which window's exposures are incomplete, and the incident records are silently short.
 *
 * One way to close it: the workers keep, in the database, each stream's last acknowledged entry id
 * (or the serve nodes keep the count of answered events they published, per partition, in
 * PostgreSQL); a worker that finds its group missing, or the stream's first entry newer than that
 * id, logs an error naming the window (last acknowledged id's time .. first entry's time), counts
 * it, and raises an alert; where the fleet must not lose any, publish answered events with
 * WAIT 1 <timeout> (a replica has it) before answering.
 *
 * This test's own redis-server on a free port (no persistence), killed and started again.
 */
const pgUp = await postgresAvailable();

(pgUp && redisServerAvailable() ? describe : describe.skip)('review: answered calls\' events lost in a Redis reset are not reported [postgres]', () => {
  let redisDir: string;
  let workerDir: string;
  let port: number;
  let redis: Spawned | undefined;
  let svc: TestService;
  let worker: WorkerContext | undefined;
  let workerLogs: LogCapture;
  let startWorker: () => Promise<WorkerContext>;

  beforeAll(async () => {
    redisDir = mkdtempSync(join(tmpdir(), 'fg-review-reset-events-'));
    workerDir = mkdtempSync(join(tmpdir(), 'fg-review-reset-worker-'));
    port = await freePort();
    redis = await startRedisServer(port, redisDir, false);
    const redisUrl = `redis://127.0.0.1:${port}`;
    svc = await startTestService('postgres', { redisUrl, policy: 'none' });
    await mirrorAccount(svc, 'alice', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    for (const id of ['mallory', 'trudy', 'eve']) await mirrorAccount(svc, id, []);
    const { config, secrets } = buildSettings(
      { dataDir: workerDir, databaseUrl: svc.databaseUrl!, redisUrl, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, policy: 'none', logLevel: 'info' },
      workerDir,
    );
    workerLogs = new LogCapture();
    startWorker = async () => {
      const w = await createWorkerContext(config, secrets, { logger: createLogger('info', workerLogs), events: { consumer: 'review-worker', claimIdleMs: 1000 } });
      w.start();
      return w;
    };
    worker = await startWorker();
  }, 60_000);
  afterAll(async () => {
    await worker?.close();
    await svc?.stop();
    if (redis) await killProcess(redis);
    rmSync(redisDir, { recursive: true, force: true });
    rmSync(workerDir, { recursive: true, force: true });
  });

  const stored = async (account: string) =>
    Number((await svc.ctx.db.kysely.selectFrom('lookup_events').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', account).executeTakeFirstOrThrow()).n);
  const answered = async (account: string) => {
    const res = await pollUntil(
      `${account}'s lookup answered`,
      async () => {
        const r = await lookup(svc, await svc.tokenFor(account), { phone: NUMBERS.usA });
        return r.statusCode === 200 ? r : undefined;
      },
      15_000,
      200,
    );
    expect(res.json().match?.accountId).toBe('alice');
  };

  it('an answered call lost with the stream is at least counted and reported', async () => {
    // Control: with the worker running, an answer is stored.
    await answered('mallory');
    await pollUntil('mallory\'s event stored', async () => ((await stored('mallory')) === 1 ? true : undefined), 10_000, 100);

    // The worker is stopped (a deploy, or simply behind); trudy is answered meanwhile: alice revealed to trudy.
    await worker!.close();
    worker = undefined;
    await answered('trudy');

    // Redis restarts empty; the worker comes back under its own name; the fleet carries on.
    const before = workerLogs.lines.length;
    await killProcess(redis!);
    redis = await startRedisServer(port, redisDir, false);
    // The limits refuse to answer on a Redis that lost them until an operator accepts the reset
    // (`findguard limits accept-redis-reset`, src/limits/redis-epoch.ts): accepted, as an operator would.
    const store = createRedisLimitStore(`redis://127.0.0.1:${port}`);
    await resetEpoch(svc.ctx.db.kysely, store, 'accepted-after-the-reset');
    await store.close();
    worker = await startWorker();
    await answered('eve');
    await pollUntil('eve\'s event stored', async () => ((await stored('eve')) === 1 ? true : undefined), 15_000, 100);

    // Trudy's answer is gone (that much the README says). What must not happen is silence.
    expect(await stored('trudy')).toBe(0);
    const metrics = await worker.metrics.registry.getSingleMetricAsString('findguard_events_lost_total').catch(() => '');
    const lostCounted = /findguard_events_lost_total(?:\{[^}]*\})? ([1-9]\d*)/.test(metrics);
    const reported = workerLogs.lines
      .slice(before)
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level >= 50 && !/persists nothing/.test(l.msg));
    // Fails today: findguard_events_lost_total 0 and no error after the reset: the hole in the exposure records is unknown to anyone.
    const said = reported.some((l) => /lost|reset|missing|incomplete/i.test(l.msg));
    expect(lostCounted || said, `lost counted: ${lostCounted}; errors after the reset: ${JSON.stringify(reported.map((l) => l.msg))}`).toBe(true);
  }, 90_000);
});
