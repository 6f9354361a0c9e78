import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/index.js';
import { mirrorAccount, sync } from '../helpers/fixtures.js';
import { postgresAvailable } from '../helpers/postgres.js';
import { deleteByPrefix, REDIS_URL, redisAvailable, redisClient, uniquePrefix } from '../helpers/redis.js';
import { startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review ("no path (... another node ...) answers for free"): a node whose limits live in its own
 * memory holds its database's single-node lock, so a second such node refuses to start
 * (src/db/node-lock.ts, test/review/two-nodes-without-redis.test.ts). But a node that shares its
 * limits in Redis takes no part in that lock: a deployment of Redis nodes that gains one node
 * started without FINDGUARD_REDIS_URL (a canary, a unit file or a Helm value missing one variable)
 * starts without a word, takes the lock nobody holds, and keeps buckets of its own. An account
 * refused on the Redis node is answered by the memory node: its budget doubles, and more with
 * each such node behind the load balancer.
 */
const DAY = 86_400_000;
const policy = () =>
  compilePolicy({
    name: 'mixed-fleet',
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 3, refill: 0, per: '1d' } } }],
  });

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);

((pgUp && redisUp) || requireServices ? describe : describe.skip)('review: a memory-limits node beside a Redis node on one database [postgres+redis]', () => {
  const prefix = uniquePrefix('review-mixed-fleet');
  let withRedis: TestService;
  beforeAll(async () => {
    withRedis = await startTestService('postgres', { redisUrl: REDIS_URL }, { redisPrefix: prefix, policy: policy() });
    await mirrorAccount(withRedis, 'mallory', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
  });
  afterAll(async () => {
    await withRedis?.stop();
    const client = redisClient();
    await deleteByPrefix(client, prefix);
    client.disconnect();
  });

  let n = 0;
  const fresh = (count: number) => Array.from({ length: count }, () => `+4915123${String(500_000 + n++).padStart(6, '0')}`);

  it('either refuses to start or shares the Redis node\'s budget', async () => {
    let memoryNode: TestService | undefined;
    let refused: unknown;
    try {
      memoryNode = await startTestService('postgres', { databaseUrl: withRedis.databaseUrl! }, { policy: policy(), migrate: false });
    } catch (err) {
      refused = err;
    }
    if (refused !== undefined) {
      // What the fix should do: say which setting every node sharing a database needs.
      expect(String(refused)).toMatch(/FINDGUARD_REDIS_URL/);
      return;
    }
    try {
      const token = await withRedis.tokenFor('mallory');
      // The account's whole budget (3 numbers) through the Redis node; a fourth is refused there.
      expect((await sync(withRedis, token, { contacts: fresh(3) })).statusCode).toBe(200);
      expect((await sync(withRedis, token, { contacts: fresh(1) })).statusCode).toBe(429);
      // The memory node should refuse it too: it is the same account's budget.
      const second = await sync(memoryNode!, token, { contacts: fresh(3) });
      // Fails today: 200, three more numbers answered.
      expect(second.statusCode, second.body).toBe(429);
    } finally {
      await memoryNode!.stop();
    }
  });
});
