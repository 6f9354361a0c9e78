/**
 * `npm run bench:worker`, second part: the same events through a partitioned deployment, P = 1
 * (one worker) then P = 2 (two workers), each worker a process of its own (bench/worker-child.ts)
 * on a scratch PostgreSQL database (two processes storing into one SQLite file would measure
 * SQLite's single writer, not the engine). The events are published to the partitions' streams
 * first, as the serve nodes' RedisEventBus would have (partitionOf the account); the clock runs
 * from the workers' start to the last event stored. Beside the rate: each worker's CPU time, and
 * how busy the machine's cores were meanwhile, so what the workers did not get is visible.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { encodeEvent, type LookupEvent } from '../src/abuse/events.js';
import { partitionOf, partitionStreamKey, summariesStreamKey } from '../src/abuse/partitions.js';
import { fieldMap } from '../src/abuse/redis-stream.js';
import { migrate } from '../src/context.js';
import { openDb } from '../src/db/dialect.js';
import { createScratchDatabase } from '../src/db/scratch.js';
import { createLogger } from '../src/logger.js';

export interface PartitionRun {
  partitions: number;
  seconds: number;
  rate: number;
  /** Each worker's CPU time per event of the whole run, µs. */
  cpuPerEvent: number[];
  /** The machine's cores busy during the run, as a share of all of them. */
  machineBusy: number;
  /** Summaries the partitions published for the global stage (P > 1). */
  summaries: number;
}

function coreTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

/** Counts each worker as live before any starts, so none takes every partition for its first second. */
const REGISTER = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end return 1`;

export async function runPartitions(events: readonly LookupEvent[], partitions: number, o: { redis: Redis; redisUrl: string; pgServer: string; dataDir: string; now: number }): Promise<PartitionRun> {
  const key = `fg:bench:worker:${process.pid}:p${partitions}:events`;
  const db = await createScratchDatabase(o.pgServer, `fg_bench_worker_${process.pid}_p${partitions}`);
  const children: ChildProcess[] = [];
  try {
    const handle = openDb({ dialect: 'postgres', url: db.url });
    await migrate(handle, createLogger('warn'));
    await handle.close();
    for (let i = 0; i < events.length; i += 1000) {
      const pipe = o.redis.pipeline();
      for (const e of events.slice(i, i + 1000)) pipe.xadd(partitionStreamKey(key, partitionOf(e.accountId, partitions), partitions), '*', 'e', encodeEvent(e));
      await pipe.exec();
    }
    const names = Array.from({ length: partitions }, (_, i) => `bench-${i}`);
    const stored = new Map<string, number>();
    const cpu = new Map<string, number>();
    let ready = 0;
    let onReady: () => void = () => undefined;
    let onProgress: () => void = () => undefined;
    for (const name of names) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'bench/worker-child.ts'], {
        env: { ...process.env, BENCH_DATA_DIR: o.dataDir, BENCH_REDIS_URL: o.redisUrl, BENCH_CHILD_DATABASE_URL: db.url, BENCH_CHILD_PARTITIONS: String(partitions), BENCH_CHILD_NOW: String(o.now), BENCH_CHILD_STREAM: key, BENCH_CHILD_CONSUMER: name },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      children.push(child);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready') {
          ready++;
          onReady();
          return;
        }
        if (!line.startsWith('{')) return;
        const m = JSON.parse(line) as { stored: number; cpuUs?: number };
        stored.set(name, m.stored);
        if (m.cpuUs !== undefined) cpu.set(name, m.cpuUs);
        onProgress();
      });
    }
    await new Promise<void>((resolve) => {
      onReady = () => ready === names.length && resolve();
      onReady();
    });
    if (partitions > 1) await o.redis.eval(REGISTER, 1, `${key}:workers`, ...names);
    const before = coreTimes();
    const started = performance.now();
    for (const c of children) c.stdin!.write('go\n');
    const total = () => [...stored.values()].reduce((a, b) => a + b, 0);
    await new Promise<void>((resolve) => {
      onProgress = () => total() >= events.length && resolve();
    });
    const seconds = (performance.now() - started) / 1000;
    const after = coreTimes();
    await new Promise<void>((resolve) => {
      onProgress = () => cpu.size === names.length && resolve();
      for (const c of children) c.stdin!.write('stop\n');
    });
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    const check = openDb({ dialect: 'postgres', url: db.url });
    const rows = Number((await check.kysely.selectFrom('lookup_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    await check.close();
    if (rows !== events.length) throw new Error(`${rows} events in the table, ${events.length} published`);
    const info = partitions > 1 ? fieldMap(await o.redis.call('XINFO', 'STREAM', summariesStreamKey(key))) : undefined;
    return {
      summaries: Number(info?.get('entries-added') ?? 0),
      partitions,
      seconds,
      rate: events.length / seconds,
      cpuPerEvent: names.map((n) => (cpu.get(n) ?? 0) / events.length),
      machineBusy: (after.busy - before.busy) / (after.total - before.total),
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    const keys = [summariesStreamKey(key), `${summariesStreamKey(key)}:leader`, `${key}:workers`, `${key}:findings`, `${key}:progress`, `${key}:leader`, key];
    for (let p = 0; p < partitions; p++) keys.push(partitionStreamKey(key, p, partitions), `${partitionStreamKey(key, p, partitions)}:leader`);
    await o.redis.del(...keys);
    await db.drop();
  }
}
