import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { noopEnforcer } from '../../src/abuse/engine.js';
import { EventMetrics } from '../../src/abuse/metrics.js';
import { EventPipeline, type EventProcessor } from '../../src/abuse/pipeline.js';
import { RedisEventConsumer } from '../../src/abuse/redis-consumer.js';
import { GLOBAL_GROUP } from '../../src/abuse/sharded.js';
import { GlobalStage } from '../../src/abuse/stages.js';
import { Summarizer } from '../../src/abuse/summaries.js';
import { openDb, type Db } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { compileAbusePolicy, DEFAULT_ABUSE_POLICY } from '../../src/policy/index.js';
import { makeEvent } from '../helpers/events.js';
import { pollUntil } from '../helpers/processes.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from '../helpers/redis.js';
import { LogCapture } from '../helpers/service.js';

/**
 * Review (engine across nodes): the summaries stream has the events streams' length cap, and a
 * partition's take-over republishes a day of its summaries in one burst. When the global stage's
 * reader is behind, Redis trims summaries it has not read: the consumer counted them as lost
 * lookup events (findguard_events_lost_total, which they are not) and went on, so the global
 * stage never saw those accounts' contexts: coordination and farming evidence silently gone, for
 * as long as the engine's windows last, although every summary derives from events the partitions
 * had stored.
 *
 * Expected: entries of the summaries stream trimmed unread are rebuilt, by resuming the global
 * stage from the stored events (as a take-over does), and not counted as lost lookup events.
 */
describeRedis('summaries trimmed by the stream cap before the global stage read them', () => {
  const prefix = uniquePrefix('summaries-trimmed');
  const redis = redisClient();
  let dir: string;
  let db: Db;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-summaries-trimmed-'));
    db = openDb({ dialect: 'sqlite', path: join(dir, 'events.sqlite') });
    await migrateToLatest(db.kysely);
  });
  afterAll(async () => {
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A reader whose first batch is held while a burst past the cap of 10 is published: of 30
   * entries it reads the first, then the 10 the cap kept; 19 were trimmed unread.
   */
  async function overrun(key: string, processor: EventProcessor, logs: LogCapture, derived: boolean, publishEntries: (from: number, to: number) => Promise<void>, resumed: () => boolean) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let batches = 0;
    let reached!: () => void;
    const first = new Promise<void>((r) => (reached = r));
    const held: EventProcessor = {
      async process(batch, encoded) {
        if (++batches === 1) {
          reached();
          await gate;
        }
        await processor.process(batch, encoded);
      },
      ...(processor.resume ? { resume: () => processor.resume!() } : {}),
    };
    const registry = new Registry();
    const consumer = new RedisEventConsumer({
      url: REDIS_URL,
      streamKey: key,
      ...(derived ? { group: GLOBAL_GROUP } : {}),
      consumer: 'reader',
      processor: held,
      logger: pino({ level: 'info' }, logs),
      metrics: new EventMetrics(registry),
      batchSize: 5,
      blockMs: 200,
      ...(derived ? { derived } : {}),
    });
    consumer.start();
    try {
      await pollUntil('the consumer leads', async () => ((await redis.get(`${key}:leader`)) === 'reader' && resumed() ? true : undefined), 10_000, 50);
      await publishEntries(0, 1);
      await first;
      await publishEntries(1, 30);
      release();
      await pollUntil('every entry read or passed', async () => {
        const fields = ((await redis.call('XINFO', 'GROUPS', key)) as unknown[][])[0]!;
        return fields[fields.indexOf('lag') + 1] === 0 && fields[fields.indexOf('pending') + 1] === 0 ? true : undefined;
      }, 15_000, 100).catch(async (err: unknown) => {
        console.error(JSON.stringify(await redis.call('XINFO', 'GROUPS', key)), logs.text);
        throw err;
      });
    } finally {
      await consumer.stop();
    }
    return (await registry.getSingleMetric('findguard_events_lost_total')!.get()).values[0]?.value ?? 0;
  }

  const events = (base: number, accountOf: (i: number) => string) => Array.from({ length: 30 }, (_, i) => makeEvent(base + i, { accountId: accountOf(i), ip: `198.51.100.${i + 1}` }));
  const xadd = (key: string, items: readonly object[]) => async (from: number, to: number) => {
    for (const item of items.slice(from, to)) await redis.xadd(key, 'MAXLEN', '10', '*', 'e', JSON.stringify(item));
  };

  it('lookup events trimmed after a slow batch of a few are counted lost, not passed in silence', async () => {
    // Before: the look for trimmed entries came only after a full batch; a held batch of one was
    // followed by a plain read past the gap, and the stream's lag stayed at 19 for good.
    const key = `${prefix}events`;
    const logs = new LogCapture();
    const lookups = events(0, (i) => `caller-${i}`);
    const lost = await overrun(key, new EventPipeline(db), logs, false, xadd(key, lookups), () => true);
    expect(lost).toBe(19);
    const stored = await db.kysely.selectFrom('lookup_events').select('id').where('id', 'in', lookups.map((e) => e.id)).execute();
    expect(stored).toHaveLength(11);
  }, 60_000);

  it('summaries trimmed unread rebuild the global stage from the stored events, and count nothing lost', async () => {
    const key = `${prefix}events:summaries`;
    const now = Date.parse('2026-11-01T13:00:00Z');
    // Thirty accounts, each calling once from its own address: thirty summaries.
    const fleet = events(1000, (i) => `fleet-${i}`);
    const summarizer = new Summarizer(compileAbusePolicy(DEFAULT_ABUSE_POLICY));
    const summaries = fleet.flatMap((e) => summarizer.add(e));
    expect(summaries).toHaveLength(30);
    const logs = new LogCapture();
    const stage = new GlobalStage({
      db: db.kysely,
      enforcer: noopEnforcer,
      logger: pino({ level: 'info' }, logs),
      clock: { now: () => now },
      policy: DEFAULT_ABUSE_POLICY,
      readFindings: async () => [],
      readWatermark: async () => undefined,
    });
    let stored = false;
    const publish = async (from: number, to: number) => {
      // Stored by the partitions, then summarised to the stream, as they do.
      if (!stored) await new EventPipeline(db).process(fleet);
      stored = true;
      await xadd(key, summaries)(from, to);
    };
    // The take-over's resume ran on a store without the fleet: what the global stage knows of it comes from the stream.
    const lost = await overrun(key, stage, logs, true, publish, () => logs.text.includes('global abuse stage resumed'));
    expect(logs.text).toMatch(/dropped by the Redis stream/);
    const unknown = fleet.map((e) => e.accountId).filter((id) => stage.engine.store.account(id) === undefined);
    expect(unknown, 'accounts whose summaries the cap trimmed').toEqual([]);
    expect(lost, 'summaries are not lookup events').toBe(0);
  }, 60_000);
});
