import { describe, expect, it } from 'vitest';
import { REDIS_URL, describeRedis } from '../../test/helpers/redis.js';
import { closeRedis, createRedis, reconnectDelay, redisOptions } from './redis.js';

/** The options without the retry function, which is checked through reconnectDelay. */
function plain(opts: Parameters<typeof redisOptions>[0]): Record<string, unknown> {
  const { retryStrategy, ...rest } = redisOptions(opts);
  expect(typeof retryStrategy).toBe('function');
  return rest;
}

describe('redisOptions', () => {
  it('defaults: 2 s timeouts, one try per command, no resend after a reconnection', () => {
    expect(plain({})).toEqual({ connectTimeout: 2000, commandTimeout: 2000, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false });
    const retry = redisOptions({}).retryStrategy!;
    expect([1, 2, 5, 20, 21, 1000].map((n) => retry(n))).toEqual([100, 200, 500, 2000, 2000, 2000]);
  });

  it('overrides each choice, and null drops a limit', () => {
    expect(plain({ lazyConnect: true, offlineQueue: false, connectTimeoutMs: 1000, commandTimeoutMs: 1500, maxRetriesPerRequest: 0, resendAfterReconnect: true })).toEqual({
      lazyConnect: true,
      enableOfflineQueue: false,
      connectTimeout: 1000,
      commandTimeout: 1500,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: true,
    });
    expect(plain({ commandTimeoutMs: null, maxRetriesPerRequest: null })).toEqual({ connectTimeout: 2000, maxRetriesPerRequest: null, autoResendUnfulfilledCommands: false });
    const retry = redisOptions({ reconnect: { stepMs: 200, maxMs: 1000 } }).retryStrategy!;
    expect([1, 4, 5, 6].map((n) => retry(n))).toEqual([200, 800, 1000, 1000]);
  });

  it('reconnectDelay grows linearly to its cap', () => {
    expect(reconnectDelay(3, { stepMs: 100, maxMs: 1000 })).toBe(300);
    expect(reconnectDelay(30, { stepMs: 100, maxMs: 1000 })).toBe(1000);
  });
});

describe('createRedis', () => {
  it('a lazy client does not connect, has an error listener, and closes without a connection', async () => {
    const redis = createRedis('redis://127.0.0.1:1', { lazyConnect: true });
    expect(redis.status).toBe('wait');
    expect(redis.listenerCount('error')).toBe(1);
    await closeRedis(redis);
    expect(redis.status).toBe('end');
  });

  it('reports connection errors to onError and keeps reconnecting', async () => {
    const errors: Error[] = [];
    const redis = createRedis('redis://127.0.0.1:1', { connectTimeoutMs: 200, reconnect: { stepMs: 10, maxMs: 10 }, onError: (err) => errors.push(err) });
    await expect.poll(() => errors.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    expect(redis.status).not.toBe('end');
    await closeRedis(redis, 100);
    // Closed: no more reconnection attempts, so no more errors.
    const seen = errors.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(errors.length).toBe(seen);
  });
});

describeRedis('createRedis against Redis', () => {
  it('connects, answers and closes', async () => {
    const redis = createRedis(REDIS_URL);
    expect(await redis.ping()).toBe('PONG');
    await closeRedis(redis, 1000);
    await expect.poll(() => redis.status).toBe('end');
    // Closing twice is harmless.
    await closeRedis(redis);
  });
});
