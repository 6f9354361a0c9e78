import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/index.js';
import { mirrorAccount, sync } from '../helpers/fixtures.js';
import { freePort, killProcess, redisServerAvailable, spawnProcess, waitForOutput, type Spawned } from '../helpers/processes.js';
import { startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review ("no path (... Redis keys expiring ...) answers for free"): every bucket, strike counter
 * and used proof-of-work mark findguard writes to Redis carries a TTL (redis-script.ts PEXPIRE),
 * and a bucket that is gone reads as full. findguard checks at start whether Redis persists
 * (util/redis-persistence.ts) but not whether it evicts: under any maxmemory-policy other than
 * noeviction (volatile-lru is the default of ElastiCache's and Azure Cache's parameter groups),
 * a Redis that reaches maxmemory deletes the least recently used keys with a TTL, that is the
 * buckets of callers who paused, and hands them a fresh budget. What fills it does not matter
 * (other callers' buckets and device keys, the lookup-event stream, anything sharing the
 * instance); here, filler keys.
 *
 * The Redis here is what the README asks for (appendonly yes), with a memory cap and an evicting
 * policy; it is this test's own redis-server on a free port, stopped at the end.
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'eviction',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 3, refill: 0, per: '1d' } } }],
  });

(redisServerAvailable() ? describe : describe.skip)('review: an evicting Redis hands a paused caller a fresh budget', () => {
  let dir: string;
  let redis: Spawned;
  let url: string;
  let svc: TestService | undefined;
  let refused: unknown;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-review-evict-'));
    const port = await freePort();
    redis = spawnProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--daemonize', 'no', '--dir', dir, '--appendonly', 'yes', '--maxmemory', '8mb', '--maxmemory-policy', 'volatile-lru'], { cwd: dir });
    await waitForOutput(redis, /Ready to accept connections/, 10_000);
    url = `redis://127.0.0.1:${port}`;
    try {
      svc = await startTestService('sqlite', { redisUrl: url }, { policy: policy() });
    } catch (err) {
      refused = err;
    }
    if (svc) await mirrorAccount(svc, 'mallory', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
  });
  afterAll(async () => {
    await svc?.stop();
    await killProcess(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  const fresh = (count: number) => Array.from({ length: count }, () => `+4915123${String(600_000 + n++).padStart(6, '0')}`);

  it('a spent budget stays spent while Redis is under memory pressure (or the node will not run on it)', async () => {
    if (!svc) {
      // What a fix may do: refuse an evicting Redis at start, naming the setting.
      expect(String(refused)).toMatch(/maxmemory-policy|noeviction/);
      return;
    }
    const token = await svc.tokenFor('mallory', 7200);
    expect((await sync(svc, token, { contacts: fresh(3) })).statusCode).toBe(200);
    expect((await sync(svc, token, { contacts: fresh(1) })).statusCode).toBe(429);

    // Memory pressure from anything else in this Redis: 16 MB of keys with a TTL against an 8 MB cap.
    const filler = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      const blob = 'x'.repeat(4096);
      for (let i = 0; i < 4000; i += 200) {
        const pipe = filler.pipeline();
        for (let j = i; j < i + 200; j++) pipe.set(`filler:${j}`, blob, 'PX', 3_600_000);
        await pipe.exec();
      }
      expect(Number((await filler.info('stats')).match(/evicted_keys:(\d+)/)?.[1])).toBeGreaterThan(0);
    } finally {
      filler.disconnect();
    }

    // No time has passed (refill 0 anyway): the account is as spent as it was.
    const after = await sync(svc, token, { contacts: fresh(3) });
    // Fails today: 200, a fresh budget of three numbers.
    expect(after.statusCode, after.body).toBe(429);
  });
});
