import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, expect, it } from 'vitest';
import { EventsUnavailableError, RedisEventBus } from '../src/abuse/bus.js';
import { decodeEvent, type LookupEvent } from '../src/abuse/events.js';
import { EventMetrics } from '../src/abuse/metrics.js';
import { fieldMap } from '../src/abuse/redis-stream.js';
import { ANSWERS_SHARE, REFUSALS_SHARE } from '../src/abuse/stream-backlog.js';
import { makeEvent } from './helpers/events.js';
import { pollUntil } from './helpers/processes.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';

/**
 * Found in review: the stream's length cap drops the oldest unread entries, and refused calls cost
 * the caller nothing. While the workers are behind, a flood of refusals from suspended accounts
 * could push earlier answers out of the stream before any worker read them: exposures the records
 * would never get. Now refusals stop being published at half the cap, and answered calls fail
 * closed at 90% of it, so nothing answered is ever trimmed unread.
 */

const CAP = 200;

describeRedis('the event stream near its length cap', () => {
  const prefix = uniquePrefix('backlog');
  const redis = redisClient();
  afterAll(async () => {
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  });

  const answered = (i: number): LookupEvent => makeEvent(i, { accountId: 'found-by-attacker', matched: 1, revealed: ['victim'] });
  const refused = (i: number): LookupEvent => makeEvent(i, { accountId: 'suspended', outcome: 'refused', scope: 'account' });

  it('a flood of refusals never trims an answer unread, answers fail closed near the cap, and both resume once the workers catch up', async () => {
    const key = `${prefix}events`;
    const registry = new Registry();
    const bus = new RedisEventBus({ url: REDIS_URL, streamKey: key, logger: pino({ level: 'silent' }), metrics: new EventMetrics(registry), maxStreamLength: CAP });
    const entries = async () => ((await redis.xrange(key, '-', '+')) as Array<[string, string[]]>).map(([, f]) => decodeEvent(f[1]!)!);
    try {
      // 1. Twenty answered calls, each durable before its answer.
      for (let i = 0; i < 20; i++) await bus.emitDurable(answered(i));
      // 2. A flood of refusals, buffered faster than any length is read, while no worker reads.
      for (let i = 0; i < 1000; i++) bus.emit(refused(1000 + i));
      expect(await bus.flush()).toBe(true);
      const afterFlood = await entries();
      expect(afterFlood.filter((e) => e.outcome === 'allowed')).toHaveLength(20);
      expect(afterFlood.length).toBeLessThanOrEqual(CAP * REFUSALS_SHARE);
      const dropped = (await registry.getSingleMetric('findguard_events_dropped_total')!.get()).values[0]?.value ?? 0;
      expect(dropped).toBe(1000 - (afterFlood.length - 20));

      // 3. Answers go on until the answers' bar, then fail closed; none was ever trimmed.
      let accepted = 20;
      let failed: unknown;
      for (let i = 0; i < CAP; i++) {
        try {
          await bus.emitDurable(answered(100 + i));
          accepted++;
        } catch (err) {
          failed = err;
          break;
        }
      }
      expect(failed).toBeInstanceOf(EventsUnavailableError);
      const full = await entries();
      expect(full.length).toBeGreaterThanOrEqual(CAP * ANSWERS_SHARE);
      expect(full.filter((e) => e.outcome === 'allowed')).toHaveLength(accepted);
      const info = fieldMap(await redis.call('XINFO', 'STREAM', key));
      // Nothing the stream was given is gone.
      expect(Number(info.get('entries-added'))).toBe(full.length);

      // 4. The workers catch up (they trim what they acknowledged): answers and refusals resume.
      await redis.xtrim(key, 'MAXLEN', 0);
      await pollUntil(
        'answers accepted again',
        async () => {
          try {
            await bus.emitDurable(answered(900));
            return true;
          } catch {
            return undefined;
          }
        },
        5000,
      );
      bus.emit(refused(5000));
      expect(await bus.flush()).toBe(true);
      expect((await entries()).map((e) => e.outcome)).toEqual(['allowed', 'refused']);
    } finally {
      await bus.close();
    }
  });
});
