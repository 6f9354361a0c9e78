import type { Logger } from 'pino';
import { closeRedis, createRedis } from './redis.js';

/**
 * What a Redis keeps across its own restart. findguard's limits (every bucket, the breaker, the
 * used proofs of work) and its unread lookup events live there when FINDGUARD_REDIS_URL is set;
 * a Redis that persists nothing forgets them all when it restarts: every caller gets a fresh
 * budget, and answered calls whose events no worker had read yet are missing from the exposure
 * records. findguard cannot make Redis durable, so it says so at start, where an operator reads.
 * - `aof`: the append-only file (appendonly yes); with fsync everysec a restart loses a second at most.
 * - `snapshots`: RDB snapshots only; a restart loses what changed since the last one.
 * - `none`: neither.
 * - `unknown`: CONFIG is not allowed (as on some managed services) and AOF is off.
 */
export type RedisPersistence = 'aof' | 'snapshots' | 'none' | 'unknown';

/** Reads INFO persistence's text and CONFIG GET save's reply (undefined when CONFIG was refused). */
export function persistenceOf(info: string, saveConfig: readonly string[] | undefined): RedisPersistence {
  if (/^aof_enabled:1\s*$/m.test(info)) return 'aof';
  if (saveConfig === undefined) return 'unknown';
  const save = saveConfig[1]?.trim() ?? '';
  return save !== '' ? 'snapshots' : 'none';
}

/** Asks the Redis at `url` what it persists; one short-lived connection. */
export async function redisPersistence(url: string): Promise<RedisPersistence> {
  const redis = createRedis(url, { lazyConnect: true });
  try {
    const info = await redis.info('persistence');
    let save: string[] | undefined;
    try {
      save = (await redis.config('GET', 'save')) as string[];
    } catch {
      save = undefined;
    }
    return persistenceOf(info, save);
  } finally {
    await closeRedis(redis, 1000);
  }
}

/**
 * Logs what the deployment's Redis persists, one line: an error when nothing (a Redis restart hands
 * every caller a fresh budget), a warning for snapshots only. Never throws: a Redis out of reach is
 * reported by the stores that use it.
 */
export async function reportRedisPersistence(url: string, logger: Logger): Promise<RedisPersistence | undefined> {
  let p: RedisPersistence;
  try {
    p = await redisPersistence(url);
  } catch {
    return undefined;
  }
  const what = 'limits, used proofs of work and unread lookup events';
  if (p === 'none') logger.error({ redisPersistence: p }, `Redis persists nothing: a Redis restart forgets the ${what} (every caller gets a fresh budget). Set appendonly yes`);
  else if (p === 'snapshots') logger.warn({ redisPersistence: p }, `Redis persists snapshots only: a Redis restart loses the ${what} changed since the last one. Set appendonly yes`);
  else if (p === 'aof') logger.info({ redisPersistence: p }, `Redis keeps the ${what} in its append-only file`);
  else logger.info({ redisPersistence: p }, `Redis did not say whether it persists (CONFIG refused); make sure it keeps the ${what} across a restart (appendonly yes)`);
  return p;
}

/**
 * A Redis that may evict findguard's limits: every bucket, strike counter and used proof carries a
 * TTL, so under any maxmemory-policy but noeviction a Redis at its maxmemory deletes the buckets of
 * callers who paused, and a bucket that is gone reads as full: a fresh budget
 * (test/review/redis-eviction-fresh-budget). Under noeviction a full Redis refuses writes instead,
 * and the limits fail closed (503).
 */
export class RedisEvictsLimits extends Error {
  constructor(policy: string, maxmemory: string) {
    super(
      `Redis may evict findguard's limits (maxmemory ${maxmemory}, maxmemory-policy ${policy}): an evicted bucket reads as full, a fresh budget. ` +
        'Set maxmemory-policy noeviction on the Redis of FINDGUARD_REDIS_URL (a full Redis then refuses writes and discovery fails closed), or maxmemory 0',
    );
    this.name = 'RedisEvictsLimits';
  }
}

/**
 * Throws RedisEvictsLimits when the Redis at `url` has a memory cap and a policy that evicts. A Redis
 * that refuses CONFIG (some managed services) cannot be checked: that is logged, and the node starts.
 */
export async function requireNoEviction(url: string, logger: Logger): Promise<void> {
  const redis = createRedis(url, { lazyConnect: true });
  try {
    let reply: string[];
    try {
      reply = (await redis.config('GET', 'maxmemory', 'maxmemory-policy')) as string[];
    } catch (err) {
      // Out of reach (the node starts and fails closed until Redis answers), or CONFIG refused.
      const refused = err instanceof Error && /ERR|NOPERM|unknown command/i.test(err.message);
      logger.warn(
        refused
          ? "Redis refused CONFIG GET: findguard cannot check that it never evicts the limits' keys; set maxmemory-policy noeviction"
          : "Redis was not in reach at start: findguard did not check that it never evicts the limits' keys (maxmemory-policy noeviction)",
      );
      return;
    }
    const conf = new Map<string, string>();
    for (let i = 0; i + 1 < reply.length; i += 2) conf.set(reply[i]!, reply[i + 1]!);
    const maxmemory = conf.get('maxmemory') ?? '0';
    const policy = conf.get('maxmemory-policy') ?? 'noeviction';
    if (maxmemory !== '0' && policy !== 'noeviction') throw new RedisEvictsLimits(policy, maxmemory);
  } finally {
    await closeRedis(redis, 1000);
  }
}
