import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeEvent } from '../../src/abuse/events.js';
import { EventMetrics } from '../../src/abuse/metrics.js';
import type { EventProcessor } from '../../src/abuse/pipeline.js';
import { RedisEventConsumer } from '../../src/abuse/redis-consumer.js';
import { compareIds } from '../../src/abuse/redis-stream.js';
import { checkStreamReset, StreamPositions } from '../../src/abuse/stream-positions.js';
import { openDb, type Db } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { makeEvent } from '../helpers/events.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { eventually, freePort, killProcess, redisServerAvailable, startRedisServer, type Spawned } from '../helpers/processes.js';
import { describePostgres, LogCapture } from '../helpers/service.js';

/**
 * Review: a Redis that restarts from an older RDB snapshot (Redis's default persistence; the same
 * as a failover to a replica that lagged) comes back WITH the consumer group, rewound to the
 * snapshot. Events published after the snapshot that no worker had read are gone. README: "a
 * worker that finds its group gone, or the stream behind that position, logs an error naming the
 * window and counts 1 in findguard_events_lost_total".
 *
 * checkStreamReset (src/abuse/stream-positions.ts) judges "behind" by the STREAM's newest id
 * (last-generated-id). Serve nodes reconnect at once and publish: one XADD after the restart and
 * before the worker's check (which waits for its read to fail, then a backoff) moves the stream's
 * newest id past the recorded position, and the loss is not reported at all, although the group's
 * own position (last-delivered-id) is plainly behind what it had acknowledged.
 */
describePostgres('Redis restored from an older snapshot, then published to before the worker looks', () => {
  if (!redisServerAvailable()) return void it.skip('needs redis-server');
  let dir: string;
  let db: Db;
  let drop: (() => Promise<void>) | undefined;
  let port: number;
  let server: Spawned | undefined;
  const stream = 'fg:events';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-redis-snapshot-'));
    const scratch = await createTestDatabase('fg_redis_snapshot');
    drop = scratch.drop;
    db = openDb({ dialect: 'postgres', url: scratch.url });
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
      consumer: 'snapshot-worker',
      claimIdleMs: 1000,
      blockMs: 100,
      positions: new StreamPositions(db.kysely),
    });
    const lost = async () => Number(/findguard_events_lost_total (\d+)/.exec(await registry.getSingleMetricAsString('findguard_events_lost_total'))?.[1] ?? 0);
    return { c, lost };
  }

  it('the events lost with the rewound group are counted and reported', async () => {
    const publisher = new Redis(`redis://127.0.0.1:${port}`);
    const handled: string[] = [];
    const first = consumer(new LogCapture(), handled);
    first.c.start();
    await publisher.xadd(stream, '*', 'e', encodeEvent(makeEvent(0)));
    await eventually('the first event handled and acknowledged', async () => {
      const pending = (await publisher.call('XPENDING', stream, 'abuse')) as unknown[];
      return handled.length === 1 && Number(pending[0]) === 0;
    }, 10_000);
    // Redis's periodic snapshot: the stream with one entry, the group at it.
    await publisher.call('SAVE');
    await publisher.xadd(stream, '*', 'e', encodeEvent(makeEvent(1)));
    await publisher.xadd(stream, '*', 'e', encodeEvent(makeEvent(2)));
    await eventually('two more handled', () => handled.length === 3, 10_000);
    await first.c.stop();
    const recorded = await new StreamPositions(db.kysely).get(stream, 'abuse');
    expect(recorded?.lastId).not.toBe('0-0');
    // Published while no worker reads: unread when Redis dies.
    await publisher.xadd(stream, '*', 'e', encodeEvent(makeEvent(3)));
    publisher.disconnect();

    // Redis dies and comes back from its last snapshot (dump.rdb): group present, rewound.
    await killProcess(server!);
    server = await startRedisServer(port, dir, false);
    const again = new Redis(`redis://127.0.0.1:${port}`);
    const group = ((await again.call('XINFO', 'GROUPS', stream)) as unknown[][])[0]!;
    const lastDelivered = String(group[group.indexOf('last-delivered-id') + 1]);
    // The restored group is behind the position the database recorded: a reset by any measure.
    expect(compareIds(lastDelivered, recorded!.lastId)).toBeLessThan(0);

    // A serve node publishes its next answered call as soon as Redis is back, before any worker looks.
    await again.xadd(stream, '*', 'e', encodeEvent(makeEvent(4)));
    const logs = new LogCapture();
    const second = consumer(logs, handled);
    second.c.start();
    await eventually('the event published after the restart handled', () => handled.includes(makeEvent(4).id), 10_000);
    await second.c.stop();
    again.disconnect();
    // makeEvent(3) was acknowledged by Redis's XADD and never reached the engine or the exposure records.
    expect(handled).not.toContain(makeEvent(3).id);
    const reported = logs.lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50 && /lost in a Redis reset/.test(l.msg));
    expect({ lost: await second.lost(), reported: reported.length }).toEqual({ lost: 1, reported: 1 });
  }, 60_000);

  it("a group merely behind the stream (a backlog, entries delivered and not acknowledged) is no reset; rewound below the recorded position it is", async () => {
    const key = 'fg:backlog';
    const redis = new Redis(`redis://127.0.0.1:${port}`);
    const positions = new StreamPositions(db.kysely);
    const registry = new Registry();
    const metrics = new EventMetrics(registry, () => Date.now());
    const logs = new LogCapture();
    const check = () => checkStreamReset({ redis, positions, stream: key, group: 'abuse', consumer: 'backlog-worker', created: false, now: Date.now(), metrics, logger: createLogger('info', logs) });
    const lost = async () => Number(/findguard_events_lost_total (\d+)/.exec(await registry.getSingleMetricAsString('findguard_events_lost_total'))?.[1] ?? 0);
    try {
      await redis.xgroup('CREATE', key, 'abuse', '0', 'MKSTREAM');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(String(await redis.xadd(key, '*', 'e', encodeEvent(makeEvent(10 + i)))));
      // First look, the group unread: its position is where it stands, not the stream's newest entry.
      await check();
      // The worker is given one entry and dies before acknowledging or recording anything.
      await redis.call('XREADGROUP', 'GROUP', 'abuse', 'backlog-worker', 'COUNT', 1, 'STREAMS', key, '>');
      await check();
      expect(await lost()).toBe(0);
      // A position recorded past what the group was given: the group was rewound.
      await positions.record(key, 'abuse', ids[2]!, Date.now());
      await check();
      await check();
      expect(await lost()).toBe(1);
    } finally {
      redis.disconnect();
    }
  }, 30_000);
});
