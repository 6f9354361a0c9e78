/**
 * `npm run bench:load`: findguard scaled out on this machine, under an open-loop load, to check
 * the capacity model (BENCHMARKS.md) at its own scale. Two serving nodes and two workers on two
 * partitions (FINDGUARD_EVENT_PARTITIONS=2), sharing a scratch PostgreSQL database (seeded with
 * BENCH_ACCOUNTS synthetic accounts) and Redis (limits, one Lua call per discovery call; the
 * partitioned event streams). Discovery calls go round-robin to the two nodes at fixed rates
 * (BENCH_LOAD_RATES, calls/s, each for BENCH_LOAD_SECONDS), mix BENCH_SYNC_SHARE syncs of
 * BENCH_SYNC_SIZE numbers, the rest single lookups. Reported per rate: calls answered per second,
 * latency p50/p99 from each call's scheduled time, the events not yet handled by the workers
 * (stream lag + pending, sampled every second: flat means the workers keep up), CPU per call of the
 * nodes and the workers.
 *
 * Open loop, hand-rolled, not autocannon: autocannon is closed-loop (N connections, each sends
 * when its last answer arrived), so a slow server slows the load itself and its latencies omit the
 * waiting of the calls that were never sent (coordinated omission). Here each call has a
 * scheduled time (rate x elapsed), is sent then whatever the others do, and its latency counts
 * from then. A rate the deployment cannot take shows as a growing p99 and calls not sent (more
 * than BENCH_MAX_IN_FLIGHT waiting), not as a lower rate that looks healthy.
 *
 * Everything (generator, nodes, workers, Redis, PostgreSQL) shares this machine's cores: the
 * figures are the deployment's capacity here, not a node's alone; the model uses CPU per call.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { partitionStreamKey } from '../src/abuse/partitions.js';
import { seedDirectory } from '../src/cli/seeding.js';
import { buildSettings } from '../src/config/config.js';
import { createScratchDatabase } from '../src/db/scratch.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { createLogger } from '../src/logger.js';
import { createService } from '../src/main.js';
import { loadIpIntel } from '../src/net/index.js';
import { compilePolicy } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';
import { unreachable } from './policy.js';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 20_000);
const RATES = (process.env.BENCH_LOAD_RATES ?? '200,400,800').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 30);
const SYNC_SHARE = Number(process.env.BENCH_SYNC_SHARE ?? 0.1);
const SYNC_SIZE = Number(process.env.BENCH_SYNC_SIZE ?? 100);
const MAX_IN_FLIGHT = Number(process.env.BENCH_MAX_IN_FLIGHT ?? 2000);
const PARTITIONS = 2;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_SERVER = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const prefix = `fg:bench:load:${process.pid}:`;

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

const dataDir = mkdtempSync(join(tmpdir(), 'findguard-bench-load-'));
const dbName = `fg_bench_load_${process.pid}`;
const db = await createScratchDatabase(PG_SERVER, dbName);
const env = { LOAD_DATA_DIR: dataDir, LOAD_REDIS_URL: REDIS_URL, LOAD_DATABASE_URL: db.url, LOAD_PARTITIONS: String(PARTITIONS), LOAD_REDIS_PREFIX: prefix };
const { config, secrets } = buildSettings(
  {
    dataDir,
    logLevel: 'warn',
    redisUrl: REDIS_URL,
    databaseUrl: db.url,
    eventPartitions: String(PARTITIONS),
    hashKeys: `v1:${Buffer.alloc(32, 7).toString('base64')}`,
    serviceKey: 'bench-service-key-0123456789abcdef',
    jwtSecret: 'bench-jwt-secret-0123456789abcdef0123',
  },
  dataDir,
);

// Migrated and seeded once, as an operator's `findguard migrate` and import would have.
const seeding = await createService(config, secrets, { logger: createLogger('warn'), policy: compilePolicy(unreachable(), 'bench'), redisPrefix: prefix });
const now = Date.now();
const { population } = await seedDirectory(seeding.ctx, { accounts: ACCOUNTS, seed: 1, now });
await seeding.close();

function start(role: 'serve' | 'worker', name: string): Promise<{ child: ChildProcess; ready: { address?: string }; lines: AsyncIterator<string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/load-node.ts', role], { env: { ...process.env, ...env, LOAD_CONSUMER: name }, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return (async () => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`${name} exited before it was ready`);
      if (value.startsWith('{')) return { child, ready: JSON.parse(value) as { address?: string }, lines };
    }
  })();
}
const nodes = await Promise.all([start('serve', 'node-0'), start('serve', 'node-1')]);
const workers = await Promise.all([start('worker', 'worker-0'), start('worker', 'worker-1')]);

const tokens: string[] = [];
for (let i = 0; tokens.length < 256; i++) {
  const a = population.account(i);
  if (a.status === 'active') tokens.push(await signDevToken(secrets.jwt, a.id, now, 3600 * 4));
}
const phones = Array.from({ length: 20_000 }, (_, i) => population.phoneOf((i * 7919) % ACCOUNTS));
const unknown = phones.map((p) => p.slice(0, -4) + String((Number(p.slice(-4)) + 5003) % 10000).padStart(4, '0'));
const intel = await loadIpIntel();
const rng = new SeededRandom(3);
const ips: string[] = [];
while (ips.length < 512) {
  const ip = `${1 + rng.int(222)}.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`;
  const info = intel.tryLookup(ip);
  if (info?.country && info.asn && !info.hosting) ips.push(ip);
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const targets = nodes.map((n) => new URL(n.ready.address!));
let n = 0;
/** Sends one call; resolves with its status (0: failed to connect or reset). */
function call(): Promise<number> {
  const i = n++;
  const sync = rng.float() < SYNC_SHARE;
  const body = sync
    ? JSON.stringify({ contacts: Array.from({ length: SYNC_SIZE }, (_, k) => (k % 2 ? phones : unknown)[(i * SYNC_SIZE + k) % phones.length]) })
    : JSON.stringify({ phone: (i % 2 ? phones : unknown)[i % phones.length] });
  const target = targets[i % targets.length]!;
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path: sync ? '/v1/discovery/sync' : '/v1/discovery/lookup',
        headers: {
          authorization: `Bearer ${tokens[i % tokens.length]}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-forwarded-for': ips[(i * 31) % ips.length],
          'x-device-id': `load-${i % 997}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const redis = new Redis(REDIS_URL);
/** Events published but not yet handled by a worker: each partition's stream lag (unread) plus pending (read, not acknowledged). */
async function backlog(): Promise<number> {
  let total = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const groups = (await redis.call('XINFO', 'GROUPS', partitionStreamKey(`${prefix}events`, p, PARTITIONS)).catch(() => [])) as unknown[][];
    for (const g of groups) {
      const m = new Map<string, unknown>();
      for (let k = 0; k < g.length; k += 2) m.set(String(g[k]), g[k + 1]);
      total += Number(m.get('lag') ?? 0) + Number(m.get('pending') ?? 0);
    }
  }
  return total;
}

const TICKS = 100; // /proc's clock ticks per second on Linux
function cpuUs(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / TICKS;
}
const allCpu = (list: typeof nodes) => list.reduce((a, c) => a + cpuUs(c.child.pid), 0);
function machineBusy(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
    total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
  }
  return { busy, total };
}

/** Redis's own CPU time so far, µs (INFO: the whole server, so others' use of a shared Redis counts too). */
async function redisCpuUs(): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (get('used_cpu_sys') + get('used_cpu_user')) * 1e6;
}

/**
 * CPU time so far of PostgreSQL's backends serving this run's database (their process titles name
 * it), µs. The server's shared processes (WAL writer, checkpointer) are left out: a lower bound.
 */
function pgCpuUs(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dbName)) continue;
      total += cpuUs(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

interface Phase {
  rate: number;
  answered: number;
  failed: number;
  notSent: number;
  p50: number;
  p99: number;
  lag: number[];
  nodeCpu: number;
  workerCpu: number;
  redisCpu: number;
  pgCpu: number;
  busy: number;
}

async function phase(rate: number): Promise<Phase> {
  const latencies: number[] = [];
  let failed = 0;
  let notSent = 0;
  let inFlight = 0;
  const lag: number[] = [];
  const nodeCpu0 = allCpu(nodes);
  const workerCpu0 = allCpu(workers);
  const redisCpu0 = await redisCpuUs();
  const pgCpu0 = pgCpuUs();
  const m0 = machineBusy();
  const t0 = performance.now();
  let due = 0;
  let lastSample = t0;
  const pending: Array<Promise<void>> = [];
  while (performance.now() - t0 < SECONDS * 1000) {
    const elapsed = performance.now() - t0;
    const target = Math.floor((elapsed * rate) / 1000);
    for (; due < target; due++) {
      const scheduled = t0 + (due * 1000) / rate;
      if (inFlight >= MAX_IN_FLIGHT) {
        notSent++;
        continue;
      }
      inFlight++;
      pending.push(
        call().then((status) => {
          inFlight--;
          if (status >= 200 && status < 300) latencies.push(performance.now() - scheduled);
          else failed++;
        }),
      );
    }
    if (performance.now() - lastSample >= 1000) {
      lastSample = performance.now();
      lag.push(await backlog());
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.all(pending);
  lag.push(await backlog());
  const m1 = machineBusy();
  latencies.sort((a, b) => a - b);
  const q = (x: number) => latencies[Math.min(latencies.length - 1, Math.floor(x * latencies.length))] ?? NaN;
  const calls = latencies.length + failed;
  return {
    rate,
    answered: latencies.length / sendSeconds,
    failed,
    notSent,
    p50: q(0.5),
    p99: q(0.99),
    lag,
    nodeCpu: (allCpu(nodes) - nodeCpu0) / Math.max(1, calls),
    workerCpu: (allCpu(workers) - workerCpu0) / Math.max(1, calls),
    redisCpu: ((await redisCpuUs()) - redisCpu0) / Math.max(1, calls),
    pgCpu: (pgCpuUs() - pgCpu0) / Math.max(1, calls),
    busy: (m1.busy - m0.busy) / (m1.total - m0.total),
  };
}

try {
  // Warm-up: JIT, caches, connections.
  await phase(Math.min(...RATES) / 2);
  const results: Phase[] = [];
  for (const rate of RATES) {
    const r = await phase(rate);
    results.push(r);
    console.log(`rate ${rate}/s: answered ${r.answered.toFixed(0)}/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, failed ${r.failed}, not sent ${r.notSent}; backlog each second: ${r.lag.join(' ')}`);
    // Let the workers drain before the next rate, so each starts level.
    for (let i = 0; i < 60 && (await backlog()) > 0; i++) await new Promise((res) => setTimeout(res, 1000));
  }
  console.log(
    `\nfindguard scaled out on this machine (${cpus().length} cores, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}): 2 serving nodes + 2 workers, ` +
      `${PARTITIONS} partitions, PostgreSQL and Redis; ${ACCOUNTS.toLocaleString('en-US')} accounts; ${SECONDS} s per rate; ` +
      `mix ${Math.round((1 - SYNC_SHARE) * 100)}% single lookups, ${Math.round(SYNC_SHARE * 100)}% syncs of ${SYNC_SIZE} new numbers`,
  );
  console.log('| offered calls/s | answered calls/s | p50 | p99 | failed | not sent | events not yet handled (each s: first, max, last) | CPU per call: nodes / workers / Redis / PostgreSQL | machine busy |');
  console.log('|---:|---:|---:|---:|---:|---:|---|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.rate} | ${r.answered.toFixed(0)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${r.failed} | ${r.notSent} | ${r.lag[0]}, ${Math.max(...r.lag)}, ${r.lag[r.lag.length - 1]} | ` +
        `${r.nodeCpu.toFixed(0)} / ${r.workerCpu.toFixed(0)} / ${r.redisCpu.toFixed(0)} / ${r.pgCpu.toFixed(0)} µs | ${(r.busy * 100).toFixed(0)}% |`,
    );
  }
  // What the model's storage and memory figures come from: bytes per stored event in PostgreSQL
  // (table, indexes and TOAST) and Redis's memory per key of this run (limits buckets, streams).
  const pgCheck = new (await import('pg')).default.Client({ connectionString: db.url });
  await pgCheck.connect();
  const size = await pgCheck.query<{ bytes: string; rows: string }>(`SELECT pg_total_relation_size('lookup_events') AS bytes, (SELECT count(*) FROM lookup_events) AS rows`);
  await pgCheck.end();
  const bytes = Number(size.rows[0]!.bytes);
  const rows = Number(size.rows[0]!.rows);
  const keys: string[] = [];
  for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) keys.push(...batch);
  let keyBytes = 0;
  for (const k of keys) keyBytes += Number((await redis.call('MEMORY', 'USAGE', k)) ?? 0);
  console.log(
    `\nPostgreSQL: ${rows.toLocaleString('en-US')} lookup events in ${(bytes / 2 ** 20).toFixed(1)} MiB with their indexes: ${(bytes / Math.max(1, rows)).toFixed(0)} bytes per event. ` +
      `Redis: ${keys.length.toLocaleString('en-US')} keys of this run (limit buckets, breaker, streams, leases), ${(keyBytes / 2 ** 20).toFixed(1)} MiB (MEMORY USAGE), ${(keyBytes / Math.max(1, keys.length)).toFixed(0)} bytes per key.`,
  );
} finally {
  agent.destroy();
  for (const c of [...nodes, ...workers]) c.child.kill('SIGTERM');
  await Promise.all([...nodes, ...workers].map((c) => new Promise((r) => (c.child.exitCode !== null ? r(null) : c.child.once('exit', r)))));
  const keys: string[] = [];
  for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) keys.push(...batch);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
