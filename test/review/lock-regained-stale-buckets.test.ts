import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../../src/config/config.js';
import { openDb } from '../../src/db/dialect.js';
import { MEMORY_LIMITS_LOCK_KEY } from '../../src/db/node-lock.js';
import { signDevToken } from '../../src/http/auth/jwt.js';
import { MemoryLimitStore } from '../../src/limits/index.js';
import { LimitStatePersistence } from '../../src/limits/memory-persistence.js';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { compilePolicy } from '../../src/policy/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { HASH_KEYS, JWT_SECRET, LogCapture, SERVICE_KEY, T0 } from '../helpers/service.js';

/**
 * Review of 5c77d3c (a memory-limits node whose single-node lock another node took fails closed
 * "until it holds the lock again"). While it was refusing, the node that took the lock answered
 * and charged callers from buckets of its own, restored from the database at its start and saved
 * to it (limit_state). When that node stops and this one takes the lock again, it answers at once
 * from the buckets it had in memory before: every charge the other node made meanwhile is
 * forgotten (and its saved rows are overwritten by this node's next saves). A caller who spent
 * its budget on the other node is answered again. Regaining after `taken` should restore the
 * buckets from the database (MemoryLimitStore.restore) before answering.
 *
 * Node B is a memory store with the same persistence as a real node; its lock is the plain
 * session `other` (a real node B cannot be timed to take the lock in A's 2 s regain gap).
 */
const pgUp = await postgresAvailable();
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'lock-regained',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 3, refill: 0, per: '1d' } } }],
  });

(pgUp ? describe : describe.skip)('review: a memory-limits node that takes its lock back after another node held it [postgres]', () => {
  const dirs: string[] = [];
  let a: Service;
  let drop: () => Promise<void>;
  let url: string;
  let settings: ReturnType<typeof buildSettings>;

  const settingsFor = () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-review-regained-'));
    dirs.push(dir);
    return buildSettings({ dataDir: dir, databaseUrl: url, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, logLevel: 'info' }, dir);
  };

  beforeAll(async () => {
    const db = await createTestDatabase('fg_review_regained');
    drop = () => db.drop();
    url = db.url;
    settings = settingsFor();
    a = await createService(settings.config, settings.secrets, { clock: new ManualClock(T0), random: new SeededRandom(7), logger: createLogger('info', new LogCapture()), policy: policy() });
    const put = await a.app.inject({ method: 'PUT', url: '/internal/v1/accounts/mallory', headers: { authorization: `Bearer ${SERVICE_KEY}` }, payload: { handle: 'h_mallory', createdAt: new Date(T0 - 30 * DAY).toISOString() } });
    expect(put.statusCode).toBe(201);
  });
  afterAll(async () => {
    await a?.close();
    await drop?.();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const singleNode = async () => ((await a.app.inject({ method: 'GET', url: '/readyz' })).json() as { checks: Record<string, string> }).checks.singleNode;
  const waitFor = async (want: string) => {
    for (let i = 0; i < 100 && (await singleNode()) !== want; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await singleNode()).toBe(want);
  };
  let n = 0;
  const lookup = async (node: Service) =>
    node.app.inject({
      method: 'POST',
      url: '/v1/discovery/lookup',
      headers: { authorization: `Bearer ${await signDevToken(settings.secrets.jwt, 'mallory', T0)}` },
      payload: { phone: `+49151200${String(60_000 + n++)}` },
    });

  it('does not answer a caller who spent its budget on the node that held the lock meanwhile', async () => {
    await waitFor('ok');
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      // A's lock session drops and another holder takes the lock: A refuses (5c77d3c).
      const waiting = other.query('select pg_advisory_lock($1)', [MEMORY_LIMITS_LOCK_KEY]);
      await new Promise((r) => setTimeout(r, 100));
      await sql`select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database()) and pid <> pg_backend_pid()`.execute(a.ctx.db.kysely);
      await waiting;
      await waitFor('taken');

      // Node B, holding the lock (`other`), answers mallory three times: the day's budget is spent.
      const s = settingsFor();
      const bDb = openDb(s.config.database);
      const bStore = new MemoryLimitStore({ persistence: new LimitStatePersistence(bDb.kysely, createLogger('silent'), bDb.sqlite) });
      const b = await createService(s.config, s.secrets, { migrate: false, db: bDb, limitStore: bStore, clock: new ManualClock(T0), random: new SeededRandom(8), logger: createLogger('info', new LogCapture()), policy: policy() });
      try {
        for (let i = 0; i < 3; i++) expect((await lookup(b)).statusCode).toBe(200);
        expect((await lookup(b)).statusCode).toBe(429);
      } finally {
        await b.close();
        await bStore.close();
      }
      // B's charges are in the database (A had charged nothing: every row is B's).
      const saved = await sql<{ n: string }>`select count(*) as n from limit_state`.execute(a.ctx.db.kysely);
      expect(Number(saved.rows[0]!.n)).toBeGreaterThan(0);
      await other.query('select pg_advisory_unlock($1)', [MEMORY_LIMITS_LOCK_KEY]);
      // A takes the lock back (its regain round, every 2 s).
      await waitFor('ok');

      const res = await lookup(a);
      // Fails today: 200, answered from A's buckets as they were before B's three charges.
      expect(res.statusCode, res.body).toBe(429);
    } finally {
      await other.query('select pg_advisory_unlock($1)', [MEMORY_LIMITS_LOCK_KEY]).catch(() => undefined);
      await other.end();
    }
  }, 60_000);
});
