import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { createRedisLimitStore, type RedisLimitStore } from '../../src/limits/redis-store.js';

export const REDIS_URL = process.env.FINDGUARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let available: Promise<boolean> | undefined;

/** Whether the local Redis answers; CI (FINDGUARD_REQUIRE_SERVICES=1) treats absence as a failure. */
export function redisAvailable(): Promise<boolean> {
  available ??= (async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  })();
  return available;
}

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const redisUp = await redisAvailable();
if (!redisUp && !requireServices) {
  console.warn(`\n*** Redis is not reachable at ${REDIS_URL}: Redis suites are SKIPPED (CI runs them) ***\n`);
}

/** A suite that needs Redis: skipped with a notice when none answers, unless CI requires it (then its tests fail). */
export function describeRedis(name: string, fn: () => void): void {
  (!redisUp && !requireServices ? describe.skip : describe)(name, () => {
    beforeAll(() => {
      if (!redisUp) throw new Error(`FINDGUARD_REQUIRE_SERVICES=1 but Redis is not reachable at ${REDIS_URL}`);
    });
    fn();
  });
}

/** A key prefix no other test file or run shares. */
export function uniquePrefix(name: string): string {
  return `fg:test:${name}:${process.pid}:${Math.random().toString(36).slice(2, 10)}:`;
}

/** A plain client for inspecting keys (TTL) and cleaning up. */
export function redisClient(): Redis {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}

/** Deletes every key under prefix (SCAN, not KEYS, so a shared Redis is never blocked). */
export async function deleteByPrefix(client: Redis, prefix: string): Promise<number> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/**
 * Opens Redis limit stores under `prefix` for the enclosing suite (call it inside describeRedis):
 * after the suite, each is closed and every key under the prefix deleted.
 */
export function redisLimitStores(prefix: string): () => RedisLimitStore {
  const opened: RedisLimitStore[] = [];
  let client: Redis | undefined;
  beforeAll(() => {
    client = redisClient();
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    if (client) {
      await deleteByPrefix(client, prefix);
      await client.quit();
    }
  });
  return () => {
    const s = createRedisLimitStore(REDIS_URL, { prefix });
    opened.push(s);
    return s;
  };
}
