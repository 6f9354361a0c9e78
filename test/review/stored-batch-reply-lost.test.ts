import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeEvent, type LookupEvent } from '../../src/abuse/events.js';
import { EventMetrics } from '../../src/abuse/metrics.js';
import { EventPipeline, type EventHandler } from '../../src/abuse/pipeline.js';
import { RedisEventConsumer } from '../../src/abuse/redis-consumer.js';
import { openDb, type Db } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { makeEvent } from '../helpers/events.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { eventually } from '../helpers/processes.js';
import { deleteByPrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/redis.js';
import { describePostgres } from '../helpers/service.js';

/**
 * Review: a worker whose INSERT of a batch into lookup_events commits, but whose reply from
 * PostgreSQL is lost (the connection drops after the commit: a network blip, a failover, a
 * pooler restart), never hands that batch to the abuse engine.
 *
 * EventPipeline.stage hands over only the ids the INSERT returned (`fresh`) or ids it remembers
 * as unfinished; an INSERT whose reply was lost returned nothing and throws before anything is
 * remembered. The consumer leaves the entries pending and re-reads them (its backlog), the
 * INSERT now conflicts on every id (already stored), `fresh` is empty, and the entries are
 * acknowledged with no handler ever having seen them. The engine is rebuilt from the table only
 * when a consumer takes over (resume), so for as long as this worker leads, the account's scan is
 * missing from its windows. README: "Storage is idempotent by event id; nothing is lost when any
 * process is killed"; pipeline.ts: "an event stored here is handed over here (again after a
 * failure: `unfinished`)".
 */
describePostgres('a stored batch whose commit reply was lost', () => {
  let db: Db;
  let drop: (() => Promise<void>) | undefined;
  const prefix = uniquePrefix('reply-lost');
  const stream = `${prefix}events`;
  let redisUp = false;
  let redis: Redis;

  beforeAll(async () => {
    redisUp = await redisAvailable();
    const scratch = await createTestDatabase('fg_reply_lost');
    drop = scratch.drop;
    db = openDb({ dialect: 'postgres', url: scratch.url });
    await migrateToLatest(db.kysely);
    redis = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
    await db?.close();
    await drop?.();
  });

  it('the worker hands the batch to the engine once it is delivered again', async () => {
    if (!redisUp) throw new Error('needs Redis');
    // Armed: the next statement's reply is lost after PostgreSQL committed it.
    let loseNextReply = false;
    const lostReply: KyselyPlugin = {
      transformQuery: (args: PluginTransformQueryArgs): RootOperationNode => args.node,
      transformResult: async (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => {
        if (loseNextReply) {
          loseNextReply = false;
          throw new Error('Connection terminated unexpectedly');
        }
        return args.result;
      },
    };
    const flaky: Db = { ...db, kysely: db.kysely.withPlugin(lostReply) };
    const handed: string[] = [];
    const engine: EventHandler = { handle: async (events: LookupEvent[]) => void handed.push(...events.map((e) => e.id)) };
    const pipeline = new EventPipeline(flaky, [engine]);
    const consumer = new RedisEventConsumer({
      url: REDIS_URL,
      processor: pipeline,
      logger: pino({ level: 'silent' }),
      metrics: new EventMetrics(new Registry(), () => Date.now()),
      streamKey: stream,
      consumer: 'reply-lost-worker',
      blockMs: 100,
      claimIdleMs: 1000,
    });
    consumer.start();
    try {
      await redis.xadd(stream, '*', 'e', encodeEvent(makeEvent(0, { accountId: 'scanner-1' })));
      await eventually('the first event handed over', () => handed.length === 1, 10_000);

      const batch = [1, 2, 3].map((i) => makeEvent(i, { accountId: 'scanner-1' }));
      loseNextReply = true;
      const publish = redis.multi();
      for (const e of batch) publish.xadd(stream, '*', 'e', encodeEvent(e));
      await publish.exec();
      await eventually('the batch stored and acknowledged', async () => {
        const stored = await db.kysely.selectFrom('lookup_events').select('id').where('id', 'in', batch.map((e) => e.id)).execute();
        const pending = Number(((await redis.call('XPENDING', stream, 'abuse')) as unknown[])[0]);
        return !loseNextReply && stored.length === batch.length && pending === 0;
      }, 15_000);
    } finally {
      await consumer.stop();
    }
    // Stored once, acknowledged on the stream: and the engine never saw them.
    expect([...handed].sort()).toEqual([0, 1, 2, 3].map((i) => makeEvent(i).id));
  }, 60_000);

  it('hands each event over once: after a lost reply, after a failed insert that did not commit, and not again on a later redelivery', async () => {
    let fail: 'after-commit' | 'before-commit' | undefined;
    const flakyInsert: KyselyPlugin = {
      transformQuery: (args: PluginTransformQueryArgs): RootOperationNode => {
        if (fail === 'before-commit') {
          fail = undefined;
          throw new Error('connection refused');
        }
        return args.node;
      },
      transformResult: async (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => {
        if (fail === 'after-commit') {
          fail = undefined;
          throw new Error('Connection terminated unexpectedly');
        }
        return args.result;
      },
    };
    const handed: string[] = [];
    const pipeline = new EventPipeline({ ...db, kysely: db.kysely.withPlugin(flakyInsert) }, [{ handle: async (events: LookupEvent[]) => void handed.push(...events.map((e) => e.id)) }]);
    const [a, b, c, d] = [10, 11, 12, 13].map((i) => makeEvent(i, { accountId: 'scanner-2' })) as [LookupEvent, LookupEvent, LookupEvent, LookupEvent];
    // Handled, then delivered again (its acknowledgement failed): not handed over again.
    await pipeline.process([a]);
    await pipeline.process([a]);
    // Stored, reply lost: handed over on the redelivery, once.
    fail = 'after-commit';
    await expect(pipeline.process([a, b])).rejects.toThrow('Connection terminated');
    await pipeline.process([a, b]);
    await pipeline.process([b]);
    // Not stored at all: stored and handed over on the redelivery, once.
    fail = 'before-commit';
    await expect(pipeline.process([c, d])).rejects.toThrow('connection refused');
    await pipeline.process([c, d]);
    await pipeline.process([d, c]);
    expect(handed).toEqual([a, b, c, d].map((e) => e.id));
    expect((await db.kysely.selectFrom('lookup_events').select('id').where('account_id', '=', 'scanner-2').execute()).length).toBe(4);
  }, 30_000);
});
