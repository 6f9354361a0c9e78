import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { buildConfig } from '../src/config/config.js';
import { createContext, type AppContext } from '../src/context.js';
import { createLogger } from '../src/logger.js';
import { describeRedis, redisClient, REDIS_URL, uniquePrefix, deleteByPrefix } from './helpers/redis.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * Building a context starts nothing: a CLI command that builds one to read or write once must not
 * join the event consumer group, take the worker lease, delete old events or deliver webhooks.
 * Only start() does, in `serve` and `worker`.
 */
describeRedis('a context starts its background work only when told', () => {
  let ctx: AppContext | undefined;
  let dir: string | undefined;
  const redis = redisClient();
  const prefix = uniquePrefix('context-start');
  afterEach(async () => {
    await ctx?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await deleteByPrefix(redis, prefix);
  });
  afterAll(() => redis.quit());

  it('joins the consumer group on start(), not when built', async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-ctx-'));
    const config = buildConfig({ dataDir: dir, redisUrl: REDIS_URL, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS }, dir);
    const stream = `${prefix}events`;
    ctx = await createContext(config, { logger: createLogger('silent'), matchWorkers: 0, redisPrefix: prefix, events: { consume: true, streamKey: stream, consumer: 'c1' } });
    await new Promise((r) => setTimeout(r, 500));
    expect(await redis.exists(stream, `${stream}:leader`)).toBe(0);

    ctx.start();
    const deadline = Date.now() + 5000;
    while ((await redis.exists(`${stream}:leader`)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await redis.get(`${stream}:leader`)).toBe('c1');
  });
});
