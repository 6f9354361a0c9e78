import fc from 'fast-check';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, expect, it } from 'vitest';
import { RedisEventBus } from '../src/abuse/bus.js';
import { decodeEvent } from '../src/abuse/events.js';
import { EventMetrics } from '../src/abuse/metrics.js';
import { makeEvent } from './helpers/events.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';

/**
 * Whatever a fleet does (answers, floods of refusals, flushes, a worker reading and trimming what
 * it read), every answer whose event was made durable reaches a reader: it is read by the worker
 * or still in the stream, never trimmed away by the stream's length cap (test/events-redis-backlog
 * walks through the one sequence the review found).
 */
const CAP = 120;

type Op = { kind: 'answer' } | { kind: 'flood'; n: number } | { kind: 'flush' } | { kind: 'read'; n: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ kind: 'answer' }),
  fc.integer({ min: 1, max: 300 }).map((n): Op => ({ kind: 'flood', n })),
  fc.constant<Op>({ kind: 'flush' }),
  fc.integer({ min: 1, max: 80 }).map((n): Op => ({ kind: 'read', n })),
);

describeRedis('the event stream near its length cap, over random sequences', () => {
  const prefix = uniquePrefix('backlog-prop');
  const redis = redisClient();
  afterAll(async () => {
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  });

  it('no durable answer is ever lost to the cap', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const key = `${prefix}${run++}`;
        const bus = new RedisEventBus({ url: REDIS_URL, streamKey: key, logger: pino({ level: 'silent' }), metrics: new EventMetrics(new Registry()), maxStreamLength: CAP });
        const durable = new Set<string>();
        const read = new Set<string>();
        let i = 0;
        /** The worker: reads the oldest n entries and trims them, as `findguard worker` trims what it acknowledged. */
        const readOldest = async (n: number) => {
          const entries = (await redis.xrange(key, '-', '+', 'COUNT', n)) as Array<[string, string[]]>;
          for (const [, fields] of entries) read.add(decodeEvent(fields[1]!)!.id);
          if (entries.length > 0) await redis.xdel(key, ...entries.map(([id]) => id));
        };
        try {
          for (const o of ops) {
            if (o.kind === 'answer') {
              const e = makeEvent(i++, { accountId: 'answered', matched: 1, revealed: ['someone'] });
              await bus.emitDurable(e).then(
                () => durable.add(e.id),
                () => undefined,
              );
            } else if (o.kind === 'flood') {
              for (let k = 0; k < o.n; k++) bus.emit(makeEvent(i++, { accountId: 'suspended', outcome: 'refused', scope: 'account' }));
            } else if (o.kind === 'flush') {
              await bus.flush();
            } else {
              await readOldest(o.n);
            }
          }
          await bus.flush();
          await readOldest(1_000_000);
          for (const id of durable) expect(read.has(id), `answer ${id} lost`).toBe(true);
        } finally {
          await bus.close();
          await redis.del(key);
        }
      }),
      { numRuns: 40 },
    );
  });
});
