/**
 * `npm run bench:worker`: one `findguard worker` end to end, in events per second: lookup events
 * read from a Redis stream, stored in the database, fed to the abuse engine (features, detectors,
 * an evaluation per minute of event time), acknowledged. The abuse-engine issue's target is
 * >= 50,000 events/s for one worker. The events (a mix of single lookups, incremental syncs,
 * address books and fake accounts scanning consecutive numbers, stamped as traffic at 50,000 events/s) are
 * published before the worker starts; the clock runs from its start to the last event stored.
 * BENCH_EVENTS sets the count; BENCH_DATABASE_URL runs it on PostgreSQL instead of SQLite.
 * First, the floor: how fast the stream is read and parsed with nothing else done, and how fast the
 * engine alone takes the same events.
 * Then the partitioned engine (bench/worker-partitions.ts): the same events with
 * FINDGUARD_EVENT_PARTITIONS = 1 and 2, one worker process per partition, on PostgreSQL
 * (BENCH_PG_URL, a server where a scratch database may be made; BENCH_PARTITIONS="1,2" by default,
 * empty to skip; BENCH_SINGLE=0 skips the in-process run above).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { AbuseEngine, noopEnforcer } from '../src/abuse/engine.js';
import { decodeEvent, encodeEvent, type LookupEvent } from '../src/abuse/events.js';
import { partitionOf } from '../src/abuse/partitions.js';
import { GlobalStage, PartitionStage, type SummarySink } from '../src/abuse/stages.js';
import { DEFAULT_ABUSE_POLICY } from '../src/policy/index.js';
import { entriesOf, fieldOf } from '../src/abuse/redis-stream.js';
import { T0, Traffic, blocksFor, consecutive, fake, person, type Persona } from '../src/abuse/synthetic.js';
import { buildSettings } from '../src/config/config.js';
import { createWorkerContext, migrate } from '../src/context.js';
import { openDb } from '../src/db/dialect.js';
import { createLogger } from '../src/logger.js';
import { ManualClock } from '../src/util/clock.js';
import { runPartitions, type PartitionRun } from './worker-partitions.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const TARGET_RATE = 50_000;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const stream = `fg:bench:worker:${process.pid}:events`;

const t = new Traffic(7);
const blocks = blocksFor('+1', 2_012_000, 4000, 7);
const people: Persona[] = Array.from({ length: 50_000 }, (_, i) =>
  person(i, { phoneRegion: 'US', country: 'US', ip: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, subnet: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.0/24`, asn: 7000 + (i % 40) }),
);
const fakes: Persona[] = Array.from({ length: 500 }, (_, i) => fake(i, T0 - 2 * 86_400_000, { ip: `203.0.${113 + (i % 8)}.${10 + (i % 40)}`, subnet: `203.0.${113 + (i % 8)}.0/24` }, 40));
const events: LookupEvent[] = [];
for (let i = 0; i < EVENTS; i++) {
  // Event time as traffic at the target rate would stamp it: 50,000 events per second. (Spread over
  // an hour instead, 200,000 events would hold sixty evaluations, where live traffic at that rate
  // holds one per three million events.)
  const at = T0 + Math.floor((i * 1000) / TARGET_RATE);
  const x = t.rng.float();
  if (x < 0.02) {
    const f = t.rng.int(fakes.length);
    events.push(t.call(fakes[f]!, at, consecutive(blocks, f * 5000 + (i % 100) * 50, 50), { hitRate: 0.1, outcome: 'refused' }));
  } else {
    const p = people[t.rng.int(people.length)]!;
    const n = x < 0.7 ? 1 : x < 0.97 ? 1 + t.rng.int(5) : 150;
    events.push(t.call(p, at, t.book(blocks, [], n), { hitRate: 0.3 }));
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'findguard-bench-worker-'));
const { config, secrets } = buildSettings(
  {
    dataDir,
    logLevel: 'warn',
    redisUrl: REDIS_URL,
    // PostgreSQL wants the secrets every node shares; any will do here.
    ...(process.env.BENCH_DATABASE_URL
      ? { databaseUrl: process.env.BENCH_DATABASE_URL, hashKeys: `v1:${Buffer.alloc(32, 7).toString('base64')}`, serviceKey: 'bench-service-key-0123456789abcdef', jwtSecret: 'bench-jwt-secret-0123456789abcdef0123' }
      : {}),
  },
  dataDir,
);
// Published first, as a busy fleet of serve nodes would have: the worker then drains the stream.
const redis = new Redis(REDIS_URL);
for (let i = 0; i < events.length; i += 1000) {
  const pipe = redis.pipeline();
  for (const e of events.slice(i, i + 1000)) pipe.xadd(stream, '*', 'e', encodeEvent(e));
  await pipe.exec();
}
/**
 * The floor, in the same run: the stream read by a group of its own with nothing done but
 * JSON.parse and XACK, then the abuse engine alone over the parsed events. A worker must do
 * both in turn (and check and store each event too), so 1 / (1/read + 1/engine) bounds it.
 */
/** The sharded engine's own work over the same events, in this process, no Redis or database: what two workers share. */
async function shardedFloor(all: readonly LookupEvent[]): Promise<{ partitions: number; summaries: number; global: number }> {
  const logger = createLogger('silent');
  const clock = { now: () => T0 };
  const out: string[] = [];
  const sink: SummarySink = { publish: async (entries) => void out.push(...entries.map(([, json]) => json)), findings: async () => {}, progress: async () => {} };
  const stages = [0, 1].map((p) => new PartitionStage({ enforcer: noopEnforcer, logger, clock, policy: DEFAULT_ABUSE_POLICY }, p, 2, sink));
  const started = performance.now();
  for (let i = 0; i < all.length; i += 2000) {
    const batch = all.slice(i, i + 2000);
    for (const st of stages) await st.handle(batch.filter((e) => partitionOf(e.accountId, 2) === st.partition));
  }
  const partitions = all.length / ((performance.now() - started) / 1000);
  const global = new GlobalStage({ enforcer: noopEnforcer, logger, clock, policy: DEFAULT_ABUSE_POLICY, readFindings: async () => [], readWatermark: async () => undefined });
  const globalStart = performance.now();
  for (let i = 0; i < out.length; i += 2000) await global.process(out.slice(i, i + 2000).map((json) => decodeEvent(json)!));
  return { partitions, summaries: out.length, global: out.length / ((performance.now() - globalStart) / 1000) };
}

async function floor(): Promise<{ read: number; engine: number }> {
  await redis.xgroup('CREATE', stream, 'floor', '0');
  const parsed: LookupEvent[] = [];
  const readStart = performance.now();
  for (;;) {
    const reply = (await redis.xreadgroup('GROUP', 'floor', 'floor', 'COUNT', 2000, 'STREAMS', stream, '>')) as Array<[string, unknown]> | null;
    const entries = entriesOf(reply?.[0]?.[1]);
    if (entries.length === 0) break;
    for (const [, fields] of entries) parsed.push(JSON.parse(fieldOf(fields, 'e')!) as LookupEvent);
    await redis.xack(stream, 'floor', ...entries.map(([id]) => id));
  }
  const readSeconds = (performance.now() - readStart) / 1000;
  await redis.xgroup('DESTROY', stream, 'floor');
  const engine = new AbuseEngine();
  const engineStart = performance.now();
  for (const e of parsed) engine.observe(e);
  return { read: parsed.length / readSeconds, engine: parsed.length / ((performance.now() - engineStart) / 1000) };
}
const bound = await floor();
const shardedBound = await shardedFloor(events);

if (process.env.BENCH_SINGLE !== '0') await single();
async function single(): Promise<void> {
// The clock starts once the worker is up (IP data loaded, migrations run): from the start of
// consumption to the last event stored.
// Migrated first, as `findguard migrate` (or a serve node) would have: a worker never migrates.
const db = openDb(config.database);
await migrate(db, createLogger('warn'));
const ctx = await createWorkerContext(config, secrets, {
  db,
  logger: createLogger('warn'),
  clock: new ManualClock(T0 + Math.ceil((EVENTS * 1000) / TARGET_RATE)),
  events: { streamKey: stream, consumer: 'bench' },
});
ctx.start();
const started = performance.now();
const cpuBefore = process.cpuUsage();
// The worker's own counter of events stored: counting rows in the table every few milliseconds
// would cost the worker more than its work (a scan of a growing table on the same connection).
const storedCounter = ctx.metrics.registry.getSingleMetric('findguard_events_stored_total');
let stored = 0;
while (stored < EVENTS) {
  await new Promise((r) => setTimeout(r, 20));
  stored = (await storedCounter!.get()).values[0]?.value ?? 0;
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const rows = Number((await ctx.db.kysely.selectFrom('lookup_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
if (rows !== EVENTS) throw new Error(`${rows} events in the table, ${EVENTS} published`);
const engine = ctx.abuse.engine;
console.log(
  `one worker (${config.database.dialect}): ${EVENTS.toLocaleString('en-US')} events stored and through the engine in ${seconds.toFixed(1)} s: ` +
    `${Math.round(EVENTS / seconds).toLocaleString('en-US')} events/s (target >= ${TARGET_RATE.toLocaleString('en-US')}); engine tracks ${engine.store.accountCount.toLocaleString('en-US')} accounts; ` +
    `the worker's CPU time ${((cpu.user + cpu.system) / EVENTS).toFixed(1)} µs per event against ${((seconds * 1e6) / EVENTS).toFixed(1)} µs of wall time (all its threads; Redis's and the database's not counted)`,
);
await ctx.db.kysely.deleteFrom('lookup_events').execute();
await ctx.close();
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(
  `floor: the stream read and parsed alone ${fmt(bound.read)} events/s; the engine alone over the same events ${fmt(bound.engine)} events/s; ` +
    `one after the other at most ${fmt(1 / (1 / bound.read + 1 / bound.engine))} events/s, before checking and storing them`,
);
console.log(
  `sharded floor (P = 2, one thread): the two partition stages over the same events ${fmt(shardedBound.partitions)} events/s (engine, summaries, their JSON); ` +
    `${fmt(shardedBound.summaries)} summaries (${(shardedBound.summaries / EVENTS).toFixed(2)} per event), which the global stage takes at ${fmt(shardedBound.global)} summaries/s (parsed and checked, then its engine); ` +
    `the engine's work per event ${(1e6 / shardedBound.partitions + (1e6 * shardedBound.summaries) / EVENTS / shardedBound.global).toFixed(1)} µs sharded against ${(1e6 / bound.engine).toFixed(1)} µs in one engine`,
);
await redis.del(stream, `${stream}:leader`);
const runs: PartitionRun[] = [];
for (const p of (process.env.BENCH_PARTITIONS ?? '1,2').split(',').filter(Boolean).map(Number)) {
  const r = await runPartitions(events, p, { redis, redisUrl: REDIS_URL, pgServer: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', dataDir, now: T0 + Math.ceil((EVENTS * 1000) / TARGET_RATE) });
  runs.push(r);
  console.log(
    `P = ${p}, ${p} worker process${p > 1 ? 'es' : ''} (postgres): ${fmt(r.rate)} events/s (${r.seconds.toFixed(1)} s${runs.length > 1 ? `, ${(r.rate / runs[0]!.rate).toFixed(2)}x P = ${runs[0]!.partitions}` : ''}); ` +
      `CPU per event by worker ${r.cpuPerEvent.map((c) => `${c.toFixed(1)} µs`).join(' + ')}; the machine's ${cpus().length} cores ${(r.machineBusy * 100).toFixed(0)}% busy meanwhile ` +
      `(workers ${((r.cpuPerEvent.reduce((a, b) => a + b, 0) * EVENTS) / 1e6 / r.seconds / cpus().length * 100).toFixed(0)}%, the rest Redis, PostgreSQL and whatever else runs)` +
      (r.summaries > 0 ? `; ${fmt(r.summaries)} summaries to the global stage` : ''),
  );
  // The machine's own ceiling for this run: its cores over everything one event cost anyone (the
  // workers, Redis, PostgreSQL; on a machine running nothing else). Two workers cannot go past it.
  const workers = r.cpuPerEvent.reduce((a, b) => a + b, 0);
  const machine = (r.machineBusy * cpus().length * r.seconds * 1e6) / EVENTS;
  console.log(
    `  machine CPU per event ${machine.toFixed(1)} µs (workers ${workers.toFixed(1)}, the rest ${(machine - workers).toFixed(1)}): ` +
      `${cpus().length} cores at most ${fmt((cpus().length * 1e6) / machine)} events/s at this cost${r.machineBusy > 0.95 ? ' (cores saturated: other load, if any, is in "the rest")' : ''}`,
  );
}
redis.disconnect();
rmSync(dataDir, { recursive: true, force: true });
