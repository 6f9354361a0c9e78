import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDb } from '../src/alerts/tables.js';
import { openDb, type Db } from '../src/db/dialect.js';
import { DEFAULT_POLICY } from '../src/policy/index.js';
import { AlertReceiver } from './helpers/alert-receiver.js';
import type { ScratchDatabase } from '../src/db/scratch.js';
import { createTestDatabase, postgresAvailable } from './helpers/postgres.js';
import { ensureBuilt, freePort, pollUntil, sleep, spawnCli, stopProcess, waitForOutput, type Spawned } from './helpers/processes.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * Alerts across processes: two `findguard serve` nodes (the built CLI) on one PostgreSQL database,
 * each evaluating every second on its own system clock, with an incident whose 72-hour clock passed
 * 48 h. The 48 h alert is recorded once and reaches Slack and PagerDuty (a real local HTTP server)
 * once, however many evaluations both nodes make; the 66 h one does not fire early.
 */

const HOUR = 3_600_000;
const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const pgUp = await postgresAvailable();
if (!pgUp && !requireServices) console.warn('\n*** alerts-multiprocess needs PostgreSQL: SKIPPED (CI runs it) ***\n');

(pgUp || requireServices ? describe : describe.skip)('alerts on two serving processes', () => {
  const receiver = new AlertReceiver();
  const procs: Spawned[] = [];
  let database: ScratchDatabase;
  let dir: string;
  let db: Db;

  beforeAll(async () => {
    await receiver.start();
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
    // The first node migrates; the incident is written before the second starts, so both see it.
    await serve();
    db = openDb({ dialect: 'postgres', url: database.url }, { poolSize: 2 });
    const aware = Date.now() - 48 * HOUR - 60_000;
    await db.kysely
      .insertInto('incidents')
      .values({ id: 'inc_mp_1', title: 'Enumeration of the contact importer', status: 'draft', aware_at: aware, created_at: aware, updated_at: aware, owner: null, opened_by: 'engine', source: 'engine', notes: '', engine_campaign_id: null, notified_at: null, notices: null, closed_at: null })
      .execute();
    await serve();
  }, 180_000);

  afterAll(async () => {
    const exits = await Promise.all(procs.map((p) => stopProcess(p, 5000)));
    await db?.close();
    await database?.drop();
    await receiver.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(exits.filter((e) => e.signal === 'SIGKILL')).toEqual([]);
  }, 30_000);

  it('the 48 h alert fires once across both nodes, at Slack and PagerDuty once each', async () => {
    await pollUntil('the 48 h alert at PagerDuty', async () => (receiver.at('/pd').length > 0 ? true : undefined), 30_000);
    // Both nodes keep evaluating every second: several more rounds each must add nothing.
    await sleep(5000);
    const rows = await alertDb(db.kysely).selectFrom('alerts').selectAll().execute();
    expect(rows.map((r) => [r.condition, r.dedup_key])).toEqual([['incident.clock-48h', 'incident.clock-48h:inc_mp_1']]);
    // At least once: a retry of an attempt that arrived repeats its bytes, so bodies are counted distinct.
    const distinct = (path: string) => [...new Map(receiver.at(path).map((r) => [r.raw, r])).values()];
    expect(distinct('/pd').map((r) => r.body)).toEqual([
      expect.objectContaining({ routing_key: 'pd-routing-key-multiprocess', event_action: 'trigger', dedup_key: 'findguard/incident/inc_mp_1', payload: expect.objectContaining({ severity: 'warning' }) }),
    ]);
    expect(distinct('/slack')).toHaveLength(1);
    // Two evaluators really ran: each node logged nothing alarming and both are still serving.
    expect(procs.every((p) => p.running())).toBe(true);
  }, 60_000);
});
