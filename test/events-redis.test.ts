import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisEventBus } from '../src/abuse/bus.js';
import { decodeEvent } from '../src/abuse/events.js';
import { EventMetrics } from '../src/abuse/metrics.js';
import { EventPipeline, type EventProcessor } from '../src/abuse/pipeline.js';
import { CONSUMER_GROUP, RedisEventConsumer } from '../src/abuse/redis-consumer.js';
import { fieldMap } from '../src/abuse/redis-stream.js';
import { openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { makeEvent } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { freePort, pollUntil, sleep } from './helpers/processes.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';
import { LogCapture, startTestService } from './helpers/service.js';

/**
 * Redis Streams: `serve` only publishes; consumers in the group `abuse` store every event exactly
 * once, whatever happens to one of them mid-batch. Consumers here run in the test process over
 * their own SQLite file; test/events-worker.test.ts does the same with `findguard worker` processes.
 */

const numbers = Array.from({ length: 30 }, (_, i) => `+49151${3000 + (i % 6)}${String(100 + i).padStart(4, '0')}`);
const CLAIM_IDLE_MS = 1500;

describeRedis('lookup events over Redis Streams', () => {
  const prefix = uniquePrefix('events');
  const streamKey = `${prefix}events`;
  const redis = redisClient();
  let dir: string;
  let db: Db;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-events-'));
    db = openDb({ dialect: 'sqlite', path: join(dir, 'consumers.sqlite') });
    await migrateToLatest(db.kysely);
  });
  afterAll(async () => {
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const storedIds = async () => (await db.kysely.selectFrom('lookup_events').select('id').execute()).map((r) => r.id);
  /** How many of these events are stored. */
  const storedOf = async (events: ReadonlyArray<{ id: string }>) => (await db.kysely.selectFrom('lookup_events').select('id').where('id', 'in', events.map((e) => e.id)).execute()).length;
  /** The consumer group's XINFO GROUPS fields on a stream. */
  const groupInfo = async (key: string) => fieldMap(((await redis.call('XINFO', 'GROUPS', key)) as unknown[])[0]);

  it('publishes from serve, survives a consumer dying mid-batch, and stores every event exactly once', async () => {
    // 1. A node publishes (HTTP calls and direct emits) and closes at once: close() flushes.
    const svc = await startTestService('sqlite', { redisUrl: REDIS_URL }, { redisPrefix: prefix });
    expect(svc.ctx.events.kind).toBe('redis');
    expect(svc.ctx.eventConsumer).toBeUndefined();
    await mirrorAccount(svc, 'findable', [{ value: numbers[0]!, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'alice');
    const token = await svc.tokenFor('alice');
    const calls = 10;
    for (let i = 0; i < calls; i++) {
      const res = await svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}` }, payload: { contacts: numbers.slice(i * 3, i * 3 + 3) } });
      expect(res.statusCode).toBe(200);
    }
    const direct = Array.from({ length: 1200 }, (_, i) => makeEvent(i));
    for (const e of direct) svc.ctx.events.emit(e);
    await svc.stop();
    const total = calls + direct.length;
    expect(await redis.xlen(streamKey)).toBe(total);

    // Only number blocks cross the bus.
    const entries = await redis.xrange(streamKey, '-', '+');
    const text = JSON.stringify(entries);
    for (const n of numbers) expect(text).not.toContain(n.slice(1));
    const published = entries.map(([, fields]) => decodeEvent(fields[1]!)!);
    expect(published.every((e) => e !== undefined)).toBe(true);
    expect(published.filter((e) => e.accountId === 'alice').map((e) => e.matched)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

    // 2. A consumer takes a batch, stores part of it and dies without acknowledging anything.
    await redis.xgroup('CREATE', streamKey, CONSUMER_GROUP, '0', 'MKSTREAM');
    const taken = (await redis.call('XREADGROUP', 'GROUP', CONSUMER_GROUP, 'crashed', 'COUNT', 300, 'STREAMS', streamKey, '>')) as Array<[string, Array<[string, string[]]>]>;
    const batch = taken[0]![1];
    expect(batch).toHaveLength(300);
    const crashedAt = Date.now();
    await new EventPipeline(db).process(batch.slice(0, 120).map(([, f]) => decodeEvent(f[1]!)!));

    // 3. A live consumer processes the rest at once, and the dead one's batch once it is idle long enough.
    const logs = new LogCapture();
    const consumer = new RedisEventConsumer({
      url: REDIS_URL,
      streamKey,
      consumer: 'live',
      processor: new EventPipeline(db),
      logger: pino({ level: 'info' }, logs),
      metrics: new EventMetrics(new Registry()),
      batchSize: 100,
      claimIdleMs: CLAIM_IDLE_MS,
      trimEveryMs: 200,
    });
    consumer.start();
    try {
      const notYet = await pollUntil('the undelivered events', async () => ((await storedIds()).length >= total - 180 ? await storedIds() : undefined), 10_000);
      if (Date.now() - crashedAt < CLAIM_IDLE_MS - 100) {
        // Claimed only after the idle threshold: the dead consumer's unstored entries are still missing.
        const missing = batch.slice(120).map(([, f]) => decodeEvent(f[1]!)!.id);
        expect(missing.some((id) => !notYet.includes(id))).toBe(true);
      }
      const ids = await pollUntil('every event', async () => ((await storedIds()).length === total ? await storedIds() : undefined), 15_000);
      expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(CLAIM_IDLE_MS);
      expect(new Set(ids).size).toBe(total);
      expect(ids).toEqual(expect.arrayContaining(direct.map((e) => e.id)));
      expect(ids).toEqual(expect.arrayContaining(published.map((e) => e.id)));
      expect(logs.text).toContain('claimed lookup events');
      // Everything acknowledged, then trimmed past what the group has acknowledged.
      await pollUntil('no pending entries', async () => (((await redis.call('XPENDING', streamKey, CONSUMER_GROUP)) as unknown[])[0] === 0 ? true : undefined), 5000);
      await pollUntil('the stream trimmed', async () => ((await redis.xlen(streamKey)) < total / 2 ? true : undefined), 5000);
    } finally {
      await consumer.stop();
    }
  });

  it('never fails or blocks a call when Redis is away: drops past the buffer, counts them and logs once', async () => {
    const port = await freePort();
    const registry = new Registry();
    const logs = new LogCapture();
    const bus = new RedisEventBus({
      url: `redis://127.0.0.1:${port}`,
      streamKey: `${prefix}nowhere`,
      logger: pino({ level: 'info' }, logs),
      metrics: new EventMetrics(registry),
      maxBufferBytes: 50 * 1024,
    });
    const started = performance.now();
    for (let i = 0; i < 1000; i++) bus.emit(makeEvent(i));
    expect(performance.now() - started).toBeLessThan(200);
    await sleep(500);
    for (let i = 1000; i < 1100; i++) bus.emit(makeEvent(i));
    const dropped = (await registry.getSingleMetric('findguard_events_dropped_total')!.get()).values[0]!.value;
    expect(dropped).toBeGreaterThan(800);
    expect(bus.buffered + dropped).toBe(1100);
    expect(logs.lines.filter((l) => l.includes('dropping events'))).toHaveLength(1);
    expect(await bus.flush(300)).toBe(false);
    await bus.close();
    // Unpublished events at close are counted as dropped too.
    expect((await registry.getSingleMetric('findguard_events_dropped_total')!.get()).values[0]!.value).toBe(1100);
  });

  it('stores a batch while the engine works on the one before, hands every event over once and in order, and survives a failing handler', async () => {
    const key = `${prefix}overlap`;
    const seen: string[] = [];
    let calls = 0;
    let firstBatch = 0;
    let failed = 0;
    let slowFirst: (() => void) | undefined;
    const pipeline = new EventPipeline(db, [
      {
        async handle(events) {
          calls++;
          // The first batch waits until the next one is stored: the overlap, observed.
          if (calls === 1) {
            firstBatch = events.length;
            await new Promise<void>((resolve) => (slowFirst = resolve));
          }
          // The third call fails: its events stay stored, pending, and come again.
          if (calls === 3) {
            failed = events.length;
            throw new Error('detector down');
          }
          seen.push(...events.map((e) => e.id));
        },
      },
    ]);
    const publisher = new RedisEventBus({ url: REDIS_URL, streamKey: key, logger: pino({ level: 'silent' }), metrics: new EventMetrics(new Registry()) });
    const events = Array.from({ length: 100 }, (_, i) => makeEvent(20_000 + i, { at: Date.parse('2026-11-01T12:00:00Z') + i }));
    const consumer = new RedisEventConsumer({ url: REDIS_URL, streamKey: key, consumer: 'overlap', processor: pipeline, logger: pino({ level: 'silent' }), metrics: new EventMetrics(new Registry()), batchSize: 20, blockMs: 200 });
    consumer.start();
    try {
      // Past the backlog read (an empty stream) so the batches arrive as new entries, one read at a time.
      await sleep(300);
      for (const e of events) publisher.emit(e);
      expect(await publisher.flush()).toBe(true);
      await pollUntil('the next batch stored while the first is with the engine', async () => (slowFirst && (await storedOf(events)) > firstBatch ? true : undefined), 10_000);
      expect(seen).toEqual([]);
      slowFirst!();
      await pollUntil('every event handed over', async () => (seen.length === events.length ? true : undefined), 15_000);
      await pollUntil('all acknowledged', async () => (((await redis.call('XPENDING', key, CONSUMER_GROUP)) as unknown[])[0] === 0 ? true : undefined), 5000);
      expect(failed).toBeGreaterThan(0);
      expect(new Set(seen).size).toBe(events.length);
      expect(await storedOf(events)).toBe(events.length);
      // Order kept across the failure: the failed batch came again before anything after it.
      expect(seen).toEqual(events.map((e) => e.id));
    } finally {
      await consumer.stop();
      await publisher.close();
    }
  });

  it('a consumer whose database fails keeps its batch pending and stores it once the database is back', async () => {
    const key = `${prefix}flaky`;
    let failures = 3;
    const pipeline = new EventPipeline(db);
    const flaky: EventProcessor = {
      async process(events) {
        if (failures-- > 0) throw new Error('database unavailable');
        await pipeline.process(events);
      },
    };
    const publisher = new RedisEventBus({ url: REDIS_URL, streamKey: key, logger: pino({ level: 'silent' }), metrics: new EventMetrics(new Registry()) });
    const events = Array.from({ length: 50 }, (_, i) => makeEvent(10_000 + i));
    for (const e of events) publisher.emit(e);
    expect(await publisher.flush()).toBe(true);
    await publisher.close();
    const consumer = new RedisEventConsumer({ url: REDIS_URL, streamKey: key, consumer: 'flaky', processor: flaky, logger: pino({ level: 'silent' }), metrics: new EventMetrics(new Registry()), batchSize: 20 });
    consumer.start();
    try {
      await pollUntil('the batch stored after the failures', async () => ((await storedOf(events)) === events.length ? true : undefined), 15_000);
      await pollUntil('all acknowledged', async () => (((await redis.call('XPENDING', key, CONSUMER_GROUP)) as unknown[])[0] === 0 ? true : undefined), 5000);
    } finally {
      await consumer.stop();
    }
  });

  it('counts and logs the events the stream cap dropped before a worker read them, and its lag returns to zero', async () => {
    const key = `${prefix}capped`;
    const quiet = pino({ level: 'silent' });
    const pipeline = new EventPipeline(db);
    const group = () => groupInfo(key);

    // 1. A worker reads the first 50 events of a new stream, then stops.
    const first = new RedisEventConsumer({ url: REDIS_URL, streamKey: key, consumer: 'early', processor: pipeline, logger: quiet, metrics: new EventMetrics(new Registry()), batchSize: 20, blockMs: 200 });
    first.start();
    const before = Array.from({ length: 50 }, (_, i) => makeEvent(30_000 + i));
    const publisher = new RedisEventBus({ url: REDIS_URL, streamKey: key, logger: quiet, metrics: new EventMetrics(new Registry()), maxStreamLength: 100 });
    try {
      await sleep(300);
      for (const e of before) publisher.emit(e);
      expect(await publisher.flush()).toBe(true);
      await pollUntil('the first events stored', async () => ((await storedOf(before)) === before.length ? true : undefined), 10_000);
      await pollUntil('acknowledged', async () => (Number((await group()).get('pending')) === 0 ? true : undefined), 5000);
    } finally {
      await first.stop();
    }

    // 2. With no worker, the fleet publishes past the stream's cap: the oldest unread entries go.
    const during = Array.from({ length: 1000 }, (_, i) => makeEvent(31_000 + i));
    for (const e of during) publisher.emit(e);
    expect(await publisher.flush()).toBe(true);
    await publisher.close();
    const info = fieldMap(await redis.call('XINFO', 'STREAM', key));
    const length = Number(info.get('length'));
    const dropped = Number(info.get('entries-added')) - length - Number((await group()).get('entries-read'));
    expect(dropped).toBeGreaterThan(800);
    // What Redis alone reports: the dropped entries count as unread, forever.
    expect((await group()).get('lag')).toBe(length + dropped);

    // 3. The next worker counts them, says which window they came from, and reads the rest.
    const logs = new LogCapture();
    const registry = new Registry();
    const metrics = new EventMetrics(registry);
    const next = new RedisEventConsumer({ url: REDIS_URL, streamKey: key, consumer: 'late', processor: pipeline, logger: pino({ level: 'info' }, logs), metrics, batchSize: 20, blockMs: 200 });
    next.start();
    try {
      const kept = during.slice(-length);
      await pollUntil('the events still in the stream stored', async () => ((await storedOf(kept)) === length ? true : undefined), 15_000);
      await pollUntil('acknowledged', async () => (Number((await group()).get('pending')) === 0 ? true : undefined), 5000);
      expect(await storedOf(during)).toBe(length);
      expect((await registry.getSingleMetric('findguard_events_lost_total')!.get()).values[0]?.value).toBe(dropped);
      const reports = logs.lines.map((l) => JSON.parse(l) as { msg: string; lost?: number; publishedAfter?: string; publishedBefore?: string }).filter((l) => l.lost !== undefined);
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ lost: dropped, publishedAfter: expect.stringMatching(/^20\d\d-/), publishedBefore: expect.stringMatching(/^20\d\d-/) });
      expect(reports[0]!.msg).toContain('before the abuse engine read them');
      // Redis's read counter now covers them: nothing is left unread.
      expect((await group()).get('lag')).toBe(0);
    } finally {
      await next.stop();
    }
  });

  it('accounts for every event exactly, stored or counted lost, while the fleet overruns the stream cap during the reads', async () => {
    const key = `${prefix}overrun`;
    const quiet = pino({ level: 'silent' });
    const inner = new EventPipeline(db);
    // A slow engine: the worker falls behind and the cap trims entries it has not read, between its reads.
    const slow: EventProcessor = {
      async process(events, encoded) {
        await sleep(15);
        await inner.process(events, encoded);
      },
    };
    const registry = new Registry();
    const consumer = new RedisEventConsumer({ url: REDIS_URL, streamKey: key, consumer: 'overrun', processor: slow, logger: quiet, metrics: new EventMetrics(registry), batchSize: 20, blockMs: 200 });
    const publisher = new RedisEventBus({ url: REDIS_URL, streamKey: key, logger: quiet, metrics: new EventMetrics(new Registry()), maxStreamLength: 100 });
    const events = Array.from({ length: 3000 }, (_, i) => makeEvent(40_000 + i));
    consumer.start();
    try {
      await sleep(300);
      for (let i = 0; i < events.length; i += 100) {
        for (const e of events.slice(i, i + 100)) publisher.emit(e);
        expect(await publisher.flush()).toBe(true);
        await sleep(5);
      }
      const lost = async () => (await registry.getSingleMetric('findguard_events_lost_total')!.get()).values[0]?.value ?? 0;
      await pollUntil('every event stored or counted lost', async () => ((await storedOf(events)) + (await lost()) === events.length ? true : undefined), 30_000);
      expect(await lost()).toBeGreaterThan(0);
      await pollUntil('acknowledged', async () => {
        const g = await groupInfo(key);
        return Number(g.get('pending')) === 0 && g.get('lag') === 0 ? true : undefined;
      }, 5000);
    } finally {
      await consumer.stop();
      await publisher.close();
    }
  });
});
