import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent, type LookupEvent } from '../src/abuse/events.js';
import { fromRow } from '../src/abuse/pipeline.js';
import { buildSettings } from '../src/config/config.js';
import { openDb } from '../src/db/dialect.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { createTestDatabase, postgresAvailable } from './helpers/postgres.js';
import { ensureBuilt, freePort, killProcess, redisServerAvailable, spawnCli, startRedisServer, stopProcess, waitForOutput, type Spawned } from './helpers/processes.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * No answered call without its record (issue 13, point 5): a real `findguard serve` answers N
 * syncs, each revealing an account, and is SIGKILLed the moment the last answer arrives. Every
 * answer's lookup event must then be stored (embedded SQLite, or PostgreSQL with the in-process
 * bus) or in the Redis stream, with the account it revealed: the exposure records are built
 * from these events, so a missing one is an exposure nobody will ever be told of.
 */

const CALLS = 30;
/** Calls in flight at once: several answers share a batch, as on a busy node. */
const WAVE = 10;

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const pgUp = await postgresAvailable();
const haveRedisServer = redisServerAvailable();

/** German mobile numbers, one block per caller (the last 4 digits vary within a block). */
const num = (block: number, line: number) => `+49151${2000 + block}${String(line).padStart(4, '0')}`;

interface Answer {
  caller: string;
  revealed: string[];
}

describe('answered calls and their lookup events across kill -9', () => {
  const dirs: string[] = [];
  const spawned: Spawned[] = [];

  beforeAll(async () => {
    // Building dist/ takes a while when sources changed.
    await ensureBuilt();
  }, 120_000);

  afterAll(async () => {
    for (const p of spawned) await stopProcess(p, 3000);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'findguard-durable-'));
    dirs.push(dir);
    return dir;
  }

  /** `findguard serve` on a free port; resolves with its base URL. */
  async function serve(dataDir: string, extra: Record<string, string>): Promise<{ p: Spawned; url: string; token(id: string): Promise<string> }> {
    const port = await freePort();
    const env = {
      FINDGUARD_DATA_DIR: dataDir,
      FINDGUARD_PORT: String(port),
      FINDGUARD_HASH_KEYS: HASH_KEYS,
      FINDGUARD_SERVICE_KEY: SERVICE_KEY,
      FINDGUARD_JWT_SECRET: JWT_SECRET,
      // Limits and the engine's refusals would only get in the way: every call here is answered.
      FINDGUARD_POLICY: 'none',
      FINDGUARD_MATCH_WORKERS: '0',
      ...extra,
    };
    const p = spawnCli(['serve'], env, dataDir);
    spawned.push(p);
    await waitForOutput(p, /findguard listening on/, 30_000);
    const jwt = buildSettings({ dataDir, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, serviceKey: SERVICE_KEY }, dataDir).secrets.jwt;
    return { p, url: `http://127.0.0.1:${port}`, token: (id) => signDevToken(jwt, id, Date.now(), 3600) };
  }

  /** Caller i syncs 3 numbers of its own block; the first belongs to findable-i. */
  async function mirror(url: string): Promise<void> {
    const headers = { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' };
    for (let i = 0; i < CALLS; i++) {
      const put = async (id: string, body: Record<string, unknown>) => {
        const res = await fetch(`${url}/internal/v1/accounts/${id}`, { method: 'PUT', headers, body: JSON.stringify(body) });
        expect(res.status, await res.text()).toBeLessThan(300);
      };
      await put(`findable-${i}`, { handle: `findable_${i}` });
      await put(`caller-${i}`, { handle: `caller_${i}`, createdAt: '2020-01-01T00:00:00Z', phoneRegion: 'DE' });
      const cp = await fetch(`${url}/internal/v1/accounts/findable-${i}/contact-points`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ kind: 'phone', value: num(i, 1), purposes: ['discovery'], verified: true }),
      });
      expect(cp.status).toBe(201);
    }
  }

  /**
   * CALLS syncs in waves of WAVE, each answered with its match; SIGKILL as soon as the last
   * answer is read, with nothing in between for the server to finish.
   */
  async function answerThenKill(server: { p: Spawned; url: string; token(id: string): Promise<string> }): Promise<Answer[]> {
    const tokens = await Promise.all(Array.from({ length: CALLS }, (_, i) => server.token(`caller-${i}`)));
    const answers: Answer[] = [];
    for (let wave = 0; wave < CALLS; wave += WAVE) {
      await Promise.all(
        Array.from({ length: WAVE }, async (_, k) => {
          const i = wave + k;
          const res = await fetch(`${server.url}/v1/discovery/sync`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json' },
            body: JSON.stringify({ contacts: [num(i, 1), num(i, 2), num(i, 3)] }),
          });
          const body = (await res.json()) as { matches?: Array<{ accountId: string }> };
          expect(res.status, JSON.stringify(body)).toBe(200);
          answers.push({ caller: `caller-${i}`, revealed: (body.matches ?? []).map((m) => m.accountId) });
          if (answers.length === CALLS) server.p.child.kill('SIGKILL');
        }),
      );
    }
    expect((await server.p.exited).signal).toBe('SIGKILL');
    return answers;
  }

  /** Every answer has a stored allowed event of its caller that names every account it revealed. */
  function expectEveryAnswerRecorded(answers: Answer[], events: LookupEvent[]): void {
    expect(answers).toHaveLength(CALLS);
    const missing: string[] = [];
    for (const a of answers) {
      expect(a.revealed, a.caller).toEqual([a.caller.replace('caller', 'findable')]);
      const recorded = events.filter((e) => e.accountId === a.caller && e.outcome === 'allowed');
      if (recorded.length !== 1 || !a.revealed.every((id) => recorded[0]!.revealed.includes(id))) missing.push(a.caller);
    }
    expect(missing, `${missing.length} of ${CALLS} answered calls have no stored event naming what they revealed`).toEqual([]);
  }

  it('embedded SQLite: every answered sync is stored', async () => {
    const dataDir = tempDir();
    const server = await serve(dataDir, {});
    await mirror(server.url);
    const answers = await answerThenKill(server);
    const db = openDb({ dialect: 'sqlite', path: join(dataDir, 'findguard.sqlite') });
    try {
      const rows = await db.kysely.selectFrom('lookup_events').selectAll().execute();
      expectEveryAnswerRecorded(answers, rows.map(fromRow));
    } finally {
      await db.close();
    }
  }, 60_000);

  (pgUp || requireServices ? it : it.skip)('PostgreSQL, events consumed in the process: every answered sync is stored', async () => {
    const pg = await createTestDatabase();
    try {
      const server = await serve(tempDir(), { FINDGUARD_DATABASE_URL: pg.url });
      await mirror(server.url);
      const answers = await answerThenKill(server);
      const db = openDb({ dialect: 'postgres', url: pg.url }, { poolSize: 1 });
      try {
        const rows = await db.kysely.selectFrom('lookup_events').selectAll().execute();
        expectEveryAnswerRecorded(answers, rows.map(fromRow));
      } finally {
        await db.close();
      }
    } finally {
      await pg.drop();
    }
  }, 60_000);

  it('a process answering through inject() alone (findguard simulate) runs to its end: a call waiting for its event keeps it alive', async () => {
    // Nothing else holds the event loop open there: a batch timer that does not would let the
    // process exit, silently and with status 0, in the middle of its first call.
    const dir = tempDir();
    const scenario = join(dir, 'tiny.json');
    writeFileSync(
      scenario,
      JSON.stringify({
        name: 'tiny',
        description: 'one day, a few hundred accounts, one patient attacker',
        seed: 7,
        start: '2026-01-05T00:00:00Z',
        days: 1,
        population: { accounts: 300, discoverableShare: 0.6, occupancy: 0.35 },
        organic: {
          syncShare: 0.01, lookupShare: 0.02, lookupsPerUser: 2, maxSyncsPerDay: 50, maxLookupsPerDay: 50, bookMedian: 20, bookMax: 100,
          memberShare: 0.35, accountsPerCgnatIp: 300, ipv6Share: 0.35, travellerShare: 0.02, sharedDeviceShare: 0.03,
        },
        attackers: [
          {
            kind: 'list', name: 'targeted', accounts: 1, createdOverDays: 0, origins: [{ country: 'GB', weight: 1 }], ipsPerCountry: 1, network: 'residential',
            startDay: 0, requestsPerHour: 5, listSize: 20, registeredShare: 0.9, aged: true, batchMedian: 1, overDays: 1, singleLookups: true,
          },
        ],
      }),
    );
    const p = spawnCli(['simulate', '--scenario', scenario, '--out', join(dir, 'out')], {}, dir);
    spawned.push(p);
    expect(await p.exited, p.stderr()).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toContain('results and report.html in');
    expect(existsSync(join(dir, 'out', 'tiny.json'))).toBe(true);
  }, 120_000);

  (haveRedisServer || requireServices ? it : it.skip)('Redis: the stream holds every answered sync', async () => {
    // A private Redis, so the default stream key is this test's alone.
    const dir = tempDir();
    const port = await freePort();
    const redisServer = await startRedisServer(port, dir, false);
    spawned.push(redisServer);
    const redisUrl = `redis://127.0.0.1:${port}`;
    const server = await serve(dir, { FINDGUARD_REDIS_URL: redisUrl });
    await mirror(server.url);
    const answers = await answerThenKill(server);
    const redis = new Redis(redisUrl);
    try {
      const entries = await redis.xrange('fg:events', '-', '+');
      const events = entries.flatMap(([, fields]) => (fields[0] === 'e' ? [decodeEvent(fields[1]!)!] : []));
      expectEveryAnswerRecorded(answers, events);
    } finally {
      redis.disconnect();
      await killProcess(redisServer);
    }
  }, 60_000);
});
