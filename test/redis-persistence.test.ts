import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { persistenceOf, redisPersistence, reportRedisPersistence } from '../src/util/redis-persistence.js';
import { createRedis, closeRedis } from '../src/util/redis.js';
import { LogCapture, startTestService } from './helpers/service.js';

/**
 * A Redis that persists nothing forgets every bucket and used proof when it restarts: the node
 * says so at start (util/redis-persistence.ts). The parse is checked on the replies Redis gives,
 * and the whole against this machine's real Redis, whatever it is configured to keep.
 */
const URL = process.env.FINDGUARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('what Redis persists', () => {
  it('reads INFO persistence and CONFIG GET save as Redis answers them', () => {
    const aofOn = '# Persistence\r\nloading:0\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\n';
    const aofOff = '# Persistence\r\nloading:0\r\naof_enabled:0\r\n';
    expect(persistenceOf(aofOn, ['save', ''])).toBe('aof');
    expect(persistenceOf(aofOn, undefined)).toBe('aof');
    expect(persistenceOf(aofOff, ['save', '3600 1 300 100 60 10000'])).toBe('snapshots');
    expect(persistenceOf(aofOff, ['save', ''])).toBe('none');
    expect(persistenceOf(aofOff, ['save', '  '])).toBe('none');
    expect(persistenceOf(aofOff, undefined)).toBe('unknown');
    // A field whose name only starts the same is not the flag.
    expect(persistenceOf('aof_enabled:10\r\n', ['save', ''])).toBe('none');
  });

  it("reports this machine's Redis as its own CONFIG says, and logs at the level that matches", async () => {
    const redis = createRedis(URL);
    const info = await redis.info('persistence');
    const save = (await redis.config('GET', 'save')) as string[];
    await closeRedis(redis);
    const expected = persistenceOf(info, save);
    expect(await redisPersistence(URL)).toBe(expected);
    const logs = new LogCapture();
    expect(await reportRedisPersistence(URL, createLogger('info', logs))).toBe(expected);
    const lines = logs.lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(expected === 'none' ? 50 : expected === 'snapshots' ? 40 : 30);
    expect(String(lines[0]!.msg)).toContain(expected === 'aof' ? 'append-only file' : 'appendonly yes');
  });

  it('a Redis out of reach is reported by the stores, not here: nothing thrown, nothing logged', async () => {
    const logs = new LogCapture();
    expect(await reportRedisPersistence('redis://127.0.0.1:1', createLogger('info', logs))).toBeUndefined();
    expect(logs.lines).toHaveLength(0);
  });

  it('a serving node with FINDGUARD_REDIS_URL says at start what its Redis keeps', async () => {
    const svc = await startTestService('sqlite', { redisUrl: URL, policy: 'none' }, { redisPrefix: `fg-test-persist-${process.pid}:` });
    try {
      // Said without holding up the start: wait for the line.
      for (let i = 0; i < 100 && !svc.logs.text.includes('redisPersistence'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(svc.logs.text).toContain('"redisPersistence"');
    } finally {
      await svc.stop();
    }
  });
});
