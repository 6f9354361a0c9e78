import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JwtConfig } from '../src/config/config.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { normaliseE164 } from '../src/directory/phone.js';
import { createTestDatabase, postgresAvailable } from './helpers/postgres.js';
import { ensureBuilt, freePort, pollUntil, spawnCli, stopProcess, waitForOutput, type Spawned } from './helpers/processes.js';
import { REDIS_URL, redisAvailable } from './helpers/redis.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * Multi-node: three `findguard serve` processes on one Redis and one PostgreSQL. An attacker who
 * spreads calls over every node gets, in total, what one node would give it: the buckets live in
 * Redis and every call is checked and charged there in one atomic step.
 */

const BURST = 2000;
const BATCH = 100;
const CONCURRENCY = 12;
/** Refusals in a row, on every node, that end an attack (the budget never refills). */
const REFUSED_IN_A_ROW = 5;
const MAX_CALLS = 200;
/** A logical database of its own, so FLUSHDB touches nothing another test file keeps in Redis. */
const REDIS_DB = 7;

const POLICY = `# written by test/limits-multinode.test.ts
name: multinode
tiers:
  - name: all
layers:
  - id: account-new
    subject: account
    cost: new
    limits:
      all: { burst: ${BURST}, refill: 0, per: 1d }
  - id: ip-new
    subject: ip
    cost: new
    limits:
      all: { burst: 10000000, refill: 0, per: 1d }
`;

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);
if ((!pgUp || !redisUp) && !requireServices) {
  console.warn(`\n*** limits-multinode needs PostgreSQL (${pgUp ? 'up' : 'DOWN'}) and Redis (${redisUp ? 'up' : 'DOWN'}): SKIPPED (CI runs it) ***\n`);
}

/** 100 distinct numbers valid to libphonenumber, all different across batches of one attack. */
function batch(block: string, n: number): string[] {
  return Array.from({ length: BATCH }, (_, i) => `+1${block}${String((n * BATCH + i) % 10_000).padStart(4, '0')}`);
}

interface Outcome {
  node: number;
  status: number;
  numbers: number;
  body: { error?: { code: string; details?: { scope?: string; retryAfter?: number } } };
  retryAfter: string | null;
}

interface AttackResult {
  granted: number;
  calls: Outcome[];
  grantedByNode: number[];
}

/**
 * Syncs of 100 new numbers each, `CONCURRENCY` in flight, round-robin over `urls`, until every
 * node has refused REFUSED_IN_A_ROW calls in a row. Counts the numbers of the answered (200) calls.
 */
async function attack(urls: string[], token: string, block: string): Promise<AttackResult> {
  const calls: Outcome[] = [];
  const inARow = urls.map(() => 0);
  let sent = 0;
  const done = (): boolean => inARow.every((n) => n >= REFUSED_IN_A_ROW) || sent >= MAX_CALLS;
  const worker = async (): Promise<void> => {
    while (!done()) {
      const n = sent++;
      const node = n % urls.length;
      const contacts = batch(block, n);
      const res = await fetch(`${urls[node]}/v1/discovery/sync`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ contacts }),
      });
      const body = (await res.json()) as Outcome['body'];
      calls.push({ node, status: res.status, numbers: contacts.length, body, retryAfter: res.headers.get('retry-after') });
      inARow[node] = res.status === 429 ? inARow[node]! + 1 : 0;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const allowed = calls.filter((c) => c.status === 200);
  const grantedByNode = urls.map((_, i) => allowed.filter((c) => c.node === i).reduce((s, c) => s + c.numbers, 0));
  return { granted: allowed.reduce((s, c) => s + c.numbers, 0), calls, grantedByNode };
}

function checkRefusals(calls: Outcome[]): void {
  const statuses = new Set(calls.map((c) => c.status));
  expect([...statuses].sort(), JSON.stringify(calls.filter((c) => c.status !== 200 && c.status !== 429).slice(0, 3))).toEqual([200, 429]);
  for (const c of calls.filter((x) => x.status === 429)) {
    expect(c.body.error?.code).toBe('rate_limited');
    expect(c.body.error?.details?.scope).toBe('account');
    expect(c.retryAfter).toMatch(/^[1-9]\d*$/);
  }
}

const describeServices = (pgUp && redisUp) || requireServices ? describe : describe.skip;
describeServices('limits across nodes: three findguard processes on one Redis', suite);

function suite(): void {
  const nodes: Spawned[] = [];
  const urls: string[] = [];
  const jwt: JwtConfig = { kind: 'hs256', secret: Buffer.from(JWT_SECRET, 'utf8'), local: false };
  let dir: string | undefined;
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let redis: Redis | undefined;

  beforeAll(async () => {
    if (!pgUp) throw new Error('FINDGUARD_REQUIRE_SERVICES=1 but PostgreSQL is not reachable');
    if (!redisUp) throw new Error(`FINDGUARD_REQUIRE_SERVICES=1 but Redis is not reachable at ${REDIS_URL}`);
    const redisUrl = new URL(REDIS_URL);
    redisUrl.pathname = `/${REDIS_DB}`;
    redis = new Redis(redisUrl.toString(), { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await redis.flushdb();
    // Fail loudly rather than measure nothing if the numbers ever stop being valid.
    for (const block of ['415555', '202555']) expect(batch(block, 99).every((p) => normaliseE164(p).ok)).toBe(true);

    const [, database] = await Promise.all([ensureBuilt(), createTestDatabase()]);
    db = database;
    dir = mkdtempSync(join(tmpdir(), 'findguard-multinode-'));
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    const env = (port: number): Record<string, string> => ({
      FINDGUARD_DATA_DIR: dir!,
      FINDGUARD_DATABASE_URL: database.url,
      FINDGUARD_REDIS_URL: redisUrl.toString(),
      FINDGUARD_POLICY: policyFile,
      FINDGUARD_HOST: '127.0.0.1',
      FINDGUARD_PORT: String(port),
      FINDGUARD_HASH_KEYS: HASH_KEYS,
      FINDGUARD_SERVICE_KEY: SERVICE_KEY,
      FINDGUARD_JWT_SECRET: JWT_SECRET,
    });
    const start = async (): Promise<void> => {
      const port = await freePort();
      const p = spawnCli(['serve'], env(port), dir);
      nodes.push(p);
      await waitForOutput(p, /^findguard listening on /m, 30_000);
      const url = `http://127.0.0.1:${port}`;
      await pollUntil(`${url}/readyz`, async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 10_000);
      urls.push(url);
    };
    // The first node migrates the database; the other two find it up to date.
    await start();
    await Promise.all([start(), start()]);

    for (const id of ['attacker-solo', 'attacker-spread']) {
      const res = await fetch(`${urls[0]}/internal/v1/accounts/${id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ handle: id.replace('-', '_'), createdAt: '2020-01-01T00:00:00Z', phoneRegion: 'US' }),
      });
      expect(res.status, await res.text()).toBe(201);
    }
  }, 120_000);

  afterAll(async () => {
    const exits = await Promise.all(nodes.map((p) => stopProcess(p, 5000)));
    if (redis) {
      await redis.flushdb().catch(() => undefined);
      redis.disconnect();
    }
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    // Every node shut down on SIGTERM, in time: none had to be killed.
    expect(exits.filter((e) => e.signal === 'SIGKILL')).toEqual([]);
  }, 30_000);

  let solo: AttackResult | undefined;

  it('one node: the attacker gets exactly the account budget, then 429 at account scope', async () => {
    const token = await signDevToken(jwt, 'attacker-solo', Date.now(), 600);
    solo = await attack([urls[0]!], token, '415555');
    checkRefusals(solo.calls);
    expect(solo.calls.length).toBeLessThan(MAX_CALLS);
    expect(solo.granted).toBe(BURST);
  });

  it('three nodes: spreading the same attack over all of them gets no more, in total', async () => {
    expect(urls).toHaveLength(3);
    const token = await signDevToken(jwt, 'attacker-spread', Date.now(), 600);
    const spread = await attack(urls, token, '202555');
    checkRefusals(spread.calls);
    expect(spread.calls.length).toBeLessThan(MAX_CALLS);

    // The claim: the single-node allowance, within 1%.
    expect(Math.abs(spread.granted - BURST)).toBeLessThanOrEqual(BURST * 0.01);
    // All-or-nothing charging, and batches that divide the burst: exactly the allowance.
    expect(spread.granted).toBe(BURST);
    if (solo) expect(Math.abs(spread.granted - solo.granted)).toBeLessThanOrEqual(solo.granted * 0.01);

    // The attack really was spread: every node answered some calls and refused others.
    for (let i = 0; i < 3; i++) {
      expect(spread.grantedByNode[i], `node ${i} granted`).toBeGreaterThan(0);
      expect(spread.calls.filter((c) => c.node === i && c.status === 429).length, `node ${i} refused`).toBeGreaterThanOrEqual(REFUSED_IN_A_ROW);
    }
    // Each node on its own would have given the attacker the whole burst: together they gave it once.
    expect(spread.grantedByNode.every((g) => g < BURST)).toBe(true);
  });

  it('every node refuses the spent account, and stays ready', async () => {
    const token = await signDevToken(jwt, 'attacker-spread', Date.now(), 600);
    for (const url of urls) {
      const res = await fetch(`${url}/v1/discovery/lookup`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ phone: '+14155550100' }),
      });
      expect(res.status).toBe(429);
      expect(((await res.json()) as Outcome['body']).error?.details?.scope).toBe('account');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    }
  });
}
