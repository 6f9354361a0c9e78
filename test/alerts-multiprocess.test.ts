import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDb } from '../src/alerts/tables.js';
import { openDb, type Db } from '../src/db/dialect.js';
import { DEFAULT_POLICY } from '../src/policy/index.js';
import { AlertReceiver } from './helpers/alert-receiver.js';
import type { ScratchDatabase } from '../src/db/scratch.js';
import { createTestDatabase, postgresAvailable } from './helpers/postgres.js';
import { ensureBuilt, freePort, pollUntil, sleep, spawnCli, stopProcess, waitForOutput, type Spawned } from './helpers/processes.js';
import { REDIS_URL, redisAvailable } from './helpers/redis.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * Alerts across processes: two `findguard serve` nodes and a `findguard worker` (the built CLI) on
 * one PostgreSQL database and one Redis, each evaluating every second on its own system clock, with
 * an incident whose 72-hour clock passed 48 h. The 48 h alert is recorded once and reaches Slack and PagerDuty (a real local HTTP server)
 * once, however many evaluations both nodes make; the 66 h one does not fire early.
 */

const HOUR = 3_600_000;
const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const up = (await postgresAvailable()) && (await redisAvailable());
if (!up && !requireServices) console.warn('\n*** alerts-multiprocess needs PostgreSQL and Redis: SKIPPED (CI runs it) ***\n');
/** This file's own Redis database: the CLI uses the default key names. */
const REDIS_DB = 11;

(up || requireServices ? describe : describe.skip)('alerts on two serving processes and a worker', () => {
  const receiver = new AlertReceiver();
  const procs: Spawned[] = [];
  let database: ScratchDatabase;
  let dir: string;
  let db: Db;
  let redis: Redis;

  beforeAll(async () => {
    await receiver.start();
    const redisUrl = new URL(REDIS_URL);
    redisUrl.pathname = `/${REDIS_DB}`;
    redis = new Redis(redisUrl.toString(), { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await redis.flushdb();
    [, database] = await Promise.all([ensureBuilt(), createTestDatabase('fg_alerts_mp')]);
    dir = mkdtempSync(join(tmpdir(), 'findguard-alerts-'));
    const policyFile = join(dir, 'policy.json');
    const alerts = {
      evaluateEvery: '1s',
      routes: [{ name: 'oncall', on: ['incident.clock-48h', 'incident.clock-66h'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_SLACK' }, pagerduty: { routingKeyEnv: 'FINDGUARD_ALERT_PD', url: `${receiver.url}/pd` } }],
    };
    writeFileSync(policyFile, JSON.stringify({ ...DEFAULT_POLICY, alerts }));
    const env = {
      FINDGUARD_DATA_DIR: dir,
      FINDGUARD_DATABASE_URL: database.url,
      FINDGUARD_REDIS_URL: redisUrl.toString(),
      FINDGUARD_POLICY: policyFile,
      FINDGUARD_HOST: '127.0.0.1',
      FINDGUARD_HASH_KEYS: HASH_KEYS,
      FINDGUARD_SERVICE_KEY: SERVICE_KEY,
      FINDGUARD_JWT_SECRET: JWT_SECRET,
      FINDGUARD_ALERT_SLACK: `${receiver.url}/slack`,
      FINDGUARD_ALERT_PD: 'pd-routing-key-multiprocess',
    };
    const serve = async (): Promise<void> => {
      const port = await freePort();
      const p = spawnCli(['serve'], { ...env, FINDGUARD_PORT: String(port) }, dir);
      procs.push(p);
      await waitForOutput(p, /^findguard listening on /m, 60_000);
    };
    // The first node migrates; then the second and the worker start; then the incident is written, so
    // the three race for its alert.
    await serve();
    await serve();
    const worker = spawnCli(['worker', '--consumer', 'alerts-w1'], env, dir);
    procs.push(worker);
    await waitForOutput(worker, /consuming/, 60_000);
    db = openDb({ dialect: 'postgres', url: database.url }, { poolSize: 2 });
    const aware = Date.now() - 48 * HOUR - 60_000;
    await db.kysely
      .insertInto('incidents')
      .values({ id: 'inc_mp_1', title: 'Enumeration of the contact importer', status: 'draft', aware_at: aware, created_at: aware, updated_at: aware, owner: null, opened_by: 'engine', source: 'engine', notes: '', engine_campaign_id: null, notified_at: null, notices: null, closed_at: null })
      .execute();
  }, 180_000);

  afterAll(async () => {
    const exits = await Promise.all(procs.map((p) => stopProcess(p, 5000)));
    await db?.close();
    if (redis) {
      await redis.flushdb().catch(() => undefined);
      redis.disconnect();
    }
    await database?.drop();
    await receiver.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(exits.filter((e) => e.signal === 'SIGKILL')).toEqual([]);
  }, 30_000);

  it('the 48 h alert fires once across the three processes, at Slack and PagerDuty once each', async () => {
    await pollUntil('the 48 h alert at PagerDuty', async () => (receiver.at('/pd').length > 0 ? true : undefined), 30_000);
    // All three keep evaluating every second: several more rounds each must add nothing.
    await sleep(5000);
    const rows = await alertDb(db.kysely).selectFrom('alerts').selectAll().execute();
    expect(rows.map((r) => [r.condition, r.dedup_key])).toEqual([['incident.clock-48h', 'incident.clock-48h:inc_mp_1']]);
    // At least once: a retry of an attempt that arrived repeats its bytes, so bodies are counted distinct.
    const distinct = (path: string) => [...new Map(receiver.at(path).map((r) => [r.raw, r])).values()];
    expect(distinct('/pd').map((r) => r.body)).toEqual([
      expect.objectContaining({ routing_key: 'pd-routing-key-multiprocess', event_action: 'trigger', dedup_key: 'findguard/incident/inc_mp_1', payload: expect.objectContaining({ severity: 'warning' }) }),
    ]);
    expect(distinct('/slack')).toHaveLength(1);
    expect(procs.every((p) => p.running())).toBe(true);
  }, 60_000);
});
