import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/index.js';
import { mirrorAccount, sync } from '../helpers/fixtures.js';
import { freePort, killProcess, pollUntil, redisServerAvailable, startRedisServer, type Spawned } from '../helpers/processes.js';
import { startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review ("no path (... a restart ...) answers for free"; this machine's Redis keeps nothing on
 * disk): with FINDGUARD_REDIS_URL every bucket lives only in Redis. A Redis that comes back
 * empty (a restart without an append-only file, a FLUSHALL, a failover to a replica that had not
 * received the last writes: replication is asynchronous, so even `appendonly yes` on the primary
 * does not cover that one) is read as "every bucket full": each account spent to nothing is
 * answered again at once. findguard logs an error at a node's start when Redis persists nothing
 * (util/redis-persistence.ts) and says "Redis must persist" in the README, but a node keeps
 * serving across the reset and nothing notices it happened. The embedded default goes as far as
 * answering only after its charge is committed (memory-store.ts); the Redis path has no
 * equivalent.
 *
 * One way to close it: an epoch key the nodes write once and check in the same Lua script; when it
 * is missing (the keyspace was lost) fail closed (503) until the epoch is re-established from the
 * database, e.g. after the longest refill of any layer has passed, or from a copy of the account
 * buckets the nodes keep in PostgreSQL. Another: WAIT for a replica in the apply path.
 *
 * This test's own redis-server on a free port, without persistence, killed and started again.
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'redis-restart',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 3, refill: 0, per: '1d' } } }],
  });

(redisServerAvailable() ? describe : describe.skip)('review: a Redis that restarts empty hands every caller a fresh budget', () => {
  let dir: string;
  let port: number;
  let redis: Spawned | undefined;
  let svc: TestService;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-review-redis-restart-'));
    port = await freePort();
    redis = await startRedisServer(port, dir, false);
    svc = await startTestService('sqlite', { redisUrl: `redis://127.0.0.1:${port}` }, { policy: policy() });
    await mirrorAccount(svc, 'mallory', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    if (redis) await killProcess(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  const fresh = (count: number) => Array.from({ length: count }, () => `+4915123${String(700_000 + n++).padStart(6, '0')}`);

  it('a spent account is still spent after Redis comes back', async () => {
    const token = await svc.tokenFor('mallory', 7200);
    expect((await sync(svc, token, { contacts: fresh(3) })).statusCode).toBe(200);
    expect((await sync(svc, token, { contacts: fresh(1) })).statusCode).toBe(429);

    await killProcess(redis!);
    redis = await startRedisServer(port, dir, false);
    // The node reconnects by itself; a call while it has not yet is 503.
    const after = await pollUntil(
      'the node to use Redis again',
      async () => {
        const res = await sync(svc, token, { contacts: fresh(1) });
        return res.statusCode === 503 && (res.json() as { error: { code: string } }).error.code === 'unavailable' ? undefined : res;
      },
      15_000,
      200,
    ).catch(() => undefined);
    // Either refused as before, or failed closed for good while the reset is unresolved: never answered.
    // Fails today: 200, the account's budget of three numbers back in full.
    expect(after?.statusCode ?? 429, after?.body).toBe(429);
  }, 60_000);
});
