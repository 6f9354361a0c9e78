import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeEvent } from '../src/abuse/events.js';
import { EventMetrics } from '../src/abuse/metrics.js';
import type { EventProcessor } from '../src/abuse/pipeline.js';
import { RedisEventConsumer } from '../src/abuse/redis-consumer.js';
import { StreamPositions } from '../src/abuse/stream-positions.js';
import { openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';
import { makeEvent } from './helpers/events.js';
import { createTestDatabase } from './helpers/postgres.js';
import { freePort, killProcess, redisServerAvailable, startRedisServer, type Spawned } from './helpers/processes.js';
import { describeEachDialect, LogCapture } from './helpers/service.js';

/**
 * A Redis that comes back empty (restart without persistence, failover, FLUSHALL) loses the
 * events no worker had read. The workers keep each group's acknowledged position in the database
 * (src/abuse/stream-positions.ts): the one that finds the group gone counts the loss once
 * (findguard_events_lost_total, hence the events.lost alert) and logs an error naming the window.
 * A private redis-server (no persistence), killed and started again.
 */
describeEachDialect('a Redis reset under the event consumers', (dialect) => {
  if (!redisServerAvailable()) return void it.skip('needs redis-server');
  let dir: string;
  let db: Db;
  let drop: (() => Promise<void>) | undefined;
  let port: number;
  let server: Spawned | undefined;
  const stream = 'fg:events';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-redis-reset-'));
    if (dialect === 'postgres') {
      const scratch = await createTestDatabase('fg_redis_reset');
      drop = scratch.drop;
      db = openDb({ dialect: 'postgres', url: scratch.url });
    } else {
      db = openDb({ dialect: 'sqlite', path: join(dir, 'fg.sqlite') });
    }
    await migrateToLatest(db.kysely);
    port = await freePort();
    server = await startRedisServer(port, dir, false);
  }, 60_000);
  afterAll(async () => {
    if (server) await killProcess(server);
    await db?.close();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  function consumer(logs: LogCapture, handled: string[]) {
    const registry = new Registry();
    const processor: EventProcessor = { process: async (events) => void handled.push(...events.map((e) => e.id)) };
    const c = new RedisEventConsumer({
      url: `redis://127.0.0.1:${port}`,
      processor,
      logger: createLogger('info', logs),
      metrics: new EventMetrics(registry, () => Date.now()),
      streamKey: stream,
      consumer: 'reset-worker',
      claimIdleMs: 1000,
      blockMs: 100,
      positions: new StreamPositions(db.kysely),
    });
    const lost = async () => Number(/findguard_events_lost_total (\d+)/.exec(await registry.getSingleMetricAsString('findguard_events_lost_total'))?.[1] ?? 0);
    return { c, lost };
  }
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const errors = (logs: LogCapture) => logs.lines.map((l) => JSON.parse(l) as { level: number; msg: string; publishedAfter?: string; stream?: string }).filter((l) => l.level >= 50);

  it('counts and reports the loss once, with the window, and not again once the new stream is known', async () => {
    const publisher = new Redis(`redis://127.0.0.1:${port}`);
    const handled: string[] = [];
    const first = consumer(new LogCapture(), handled);
    first.c.start();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(String(await publisher.xadd(stream, '*', 'e', encodeEvent(makeEvent(i)))));
    await until('the first three handled', () => handled.length === 3);
    await first.c.stop();
    // Published while no worker runs: unread when Redis restarts empty.
    await publisher.xadd(stream, '*', 'e', encodeEvent(makeEvent(3)));
    publisher.disconnect();

    await killProcess(server!);
    server = await startRedisServer(port, dir, false);
    const logs = new LogCapture();
    const second = consumer(logs, handled);
    second.c.start();
    const again = new Redis(`redis://127.0.0.1:${port}`);
    await again.xadd(stream, '*', 'e', encodeEvent(makeEvent(4)));
    await until('the event after the reset handled', () => handled.length === 4);
    expect(await second.lost()).toBe(1);
    const reported = errors(logs).filter((l) => /lost in a Redis reset/.test(l.msg));
    expect(reported).toHaveLength(1);
    // The window starts at the last acknowledged entry's time.
    expect(reported[0]!.publishedAfter).toBe(new Date(Number(ids[2]!.split('-')[0])).toISOString());
    expect(reported[0]!.stream).toBe(stream);
    await second.c.stop();

    // A restart on the same Redis finds the group and the stream as recorded: nothing reported.
    const logs3 = new LogCapture();
    const third = consumer(logs3, handled);
    third.c.start();
    await again.xadd(stream, '*', 'e', encodeEvent(makeEvent(5)));
    await until('the event after the restart handled', () => handled.length === 5);
    await third.c.stop();
    again.disconnect();
    expect(await third.lost()).toBe(0);
    expect(errors(logs3)).toEqual([]);
  }, 60_000);

  it('reports a stream that came back behind what its group acknowledged (a failover to a replica missing the last writes)', async () => {
    const redis = new Redis(`redis://127.0.0.1:${port}`);
    // The replica's stream: its group exists, its newest entry older than the position recorded.
    await redis.del(stream);
    await redis.xadd(stream, '1-1', 'e', encodeEvent(makeEvent(6)));
    await redis.xgroup('CREATE', stream, 'abuse', '0');
    const logs = new LogCapture();
    const handled: string[] = [];
    const after = consumer(logs, handled);
    after.c.start();
    await until('the replica\'s entry handled again', () => handled.length === 1);
    await after.c.stop();
    redis.disconnect();
    expect(await after.lost()).toBe(1);
    expect(errors(logs).filter((l) => /lost in a Redis reset/.test(l.msg))).toHaveLength(1);
  }, 30_000);
});
